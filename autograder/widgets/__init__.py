"""Interactive ipywidgets explorers used by the course notebooks."""
