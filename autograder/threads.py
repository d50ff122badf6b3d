"""PyTorch on one thread, for the tiny tensors of checks and widget redraws."""
import contextlib

import torch


class one_thread(contextlib.ContextDecorator):  # noqa: N801 (used as ``with one_thread():``)
    """Run PyTorch single-threaded: ``with one_thread(): ...`` or ``@one_thread()``.

    On tensors this small, waking a thread pool costs more than the work (tens of milliseconds on
    a busy machine). Each use restores the thread count it found, nested uses included.
    """

    def _recreate_cm(self):
        return type(self)()

    def __enter__(self):
        self.previous = torch.get_num_threads()
        torch.set_num_threads(1)
        return self

    def __exit__(self, *exc_info):
        torch.set_num_threads(self.previous)
        return False
