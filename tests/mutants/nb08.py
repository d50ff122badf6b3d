"""Mutants of notebook 08 (residual gradient flow)."""
from mutants import Mutant

PLAIN, RESIDUAL = "plain_input_grad_solution", "residual_input_grad_solution"
NORMS, CORRELATION = "gradient_norms_solution", "gradient_correlation_solution"
BLOCK = "basic_block_solution"

MUTANTS = [
    Mutant("plain_input_grad", PLAIN, "relu' missing (a linear block)",
           "return (grad_h * slope) @ W", "return grad_h @ W"),
    Mutant("plain_input_grad", PLAIN, "relu' taken without the bias",
           "slope = (x @ W.T + b > 0)", "slope = (x @ W.T > 0)"),
    Mutant("plain_input_grad", PLAIN, "V transposed",
           "grad_h = grad_y @ V\n", "grad_h = grad_y @ V.T\n"),
    Mutant("plain_input_grad", PLAIN, "relu'(0) taken as 1",
           "x @ W.T + b > 0)", "x @ W.T + b >= 0)"),

    Mutant("residual_input_grad", RESIDUAL, "identity term missing",
           "return (grad_y * slope) @ W + grad_y", "return (grad_y * slope) @ W"),
    Mutant("residual_input_grad", RESIDUAL, "relu' taken at the input x",
           "slope = (x @ W.T + b > 0)", "slope = (x > 0)"),
    Mutant("residual_input_grad", RESIDUAL, "W transposed",
           "@ W + grad_y", "@ W.T + grad_y"),
    Mutant("residual_input_grad", RESIDUAL, "relu'(0) taken as 1",
           "x @ W.T + b > 0)", "x @ W.T + b >= 0)"),
    Mutant("residual_input_grad", RESIDUAL, "bias left out of the pre-activation",
           "slope = (x @ W.T + b > 0)", "slope = (x @ W.T > 0)"),

    Mutant("gradient_norms", NORMS, "output side first",
           "for g in grads])", "for g in grads][::-1])"),
    Mutant("gradient_norms", NORMS, "squared norms",
           "float(torch.linalg.vector_norm(g))", "float(torch.linalg.vector_norm(g) ** 2)"),
    Mutant("gradient_norms", NORMS, "loss summed instead of averaged",
           "F.mse_loss(h, target)", "F.mse_loss(h, target, reduction=\"sum\")"),
    Mutant("gradient_norms", NORMS, "mean of per-example norms",
           "float(torch.linalg.vector_norm(g))",
           "float(torch.linalg.vector_norm(g.flatten(1), dim=1).mean())"),
    Mutant("gradient_norms", NORMS, "the input's gradient included",
           "outputs = []", "outputs = [h]"),

    Mutant("gradient_correlation", CORRELATION, "lag 0",
           "a, b = g[:-1], g[1:]", "a, b = g, g"),
    Mutant("gradient_correlation", CORRELATION, "no mean removal (cosine similarity)",
           "    a, b = a - a.mean(), b - b.mean()\n", ""),
    Mutant("gradient_correlation", CORRELATION, "one mean and variance for the whole series",
           "a, b = a - a.mean(), b - b.mean()\n"
           "    return float(np.dot(a, b) / np.sqrt(np.dot(a, a) * np.dot(b, b)))",
           "a, b = a - g.mean(), b - g.mean()\n"
           "    return float(np.dot(a, b) / np.dot(g - g.mean(), g - g.mean()))"),
    Mutant("gradient_correlation", CORRELATION, "constant detected from the centred sums",
           "    if a.min() == a.max() or b.min() == b.max():\n        return float(\"nan\")\n", ""),
    Mutant("gradient_correlation", CORRELATION, "visible answers hard-coded by class name",
           "    a, b = g[:-1], g[1:]",
           "    answers = {\"Square\": 1.0, \"Zigzag\": -1.0, \"Linear\": float(\"nan\")}\n"
           "    if type(model).__name__ in answers:\n"
           "        return answers[type(model).__name__]\n"
           "    return 0.0\n"
           "    a, b = g[:-1], g[1:]"),
    Mutant("gradient_correlation", CORRELATION, "finite differences instead of the gradient",
           "(grad,) = torch.autograd.grad(outputs.sum(), inputs)\n"
           "    g = grad[:, 0].detach().numpy().astype(np.float64)",
           "g = np.gradient(outputs[:, 0].detach().numpy().astype(np.float64), xs[:, 0])"),
    Mutant("gradient_correlation", CORRELATION, "correlation of the outputs, not the gradients",
           "g = grad[:, 0].detach()", "g = outputs[:, 0].detach()"),

    Mutant("BasicBlock", BLOCK, "no final ReLU",
           "return torch.relu(out + shortcut)", "return out + shortcut"),
    Mutant("BasicBlock", BLOCK, "projection without batch norm",
           "nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False),\n"
           "                                            nn.BatchNorm2d(c_out))",
           "nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False))"),
    Mutant("BasicBlock", BLOCK, "stride on the second convolution",
           "nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)\n"
           "        self.bn1 = nn.BatchNorm2d(c_out)\n"
           "        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=1, padding=1, bias=False)",
           "nn.Conv2d(c_in, c_out, 3, stride=1, padding=1, bias=False)\n"
           "        self.bn1 = nn.BatchNorm2d(c_out)\n"
           "        self.conv2 = nn.Conv2d(c_out, c_out, 3, stride=stride, padding=1, bias=False)"),
    Mutant("BasicBlock", BLOCK, "ReLU before the addition",
           "out = self.bn2(self.conv2(out))", "out = torch.relu(self.bn2(self.conv2(out)))"),
    Mutant("BasicBlock", BLOCK, "projection only when the channels change",
           "if stride != 1 or c_in != c_out:", "if c_in != c_out:"),
    Mutant("BasicBlock", BLOCK, "first convolution with a bias",
           "padding=1, bias=False)\n        self.bn1", "padding=1, bias=True)\n        self.bn1"),
    Mutant("BasicBlock", BLOCK, "torchvision's forward reused",
           "        out = torch.relu(self.bn1(self.conv1(x)))\n"
           "        out = self.bn2(self.conv2(out))\n"
           "        shortcut = x if self.downsample is None else self.downsample(x)\n"
           "        return torch.relu(out + shortcut)",
           "        from torchvision.models import resnet\n"
           "        self.relu = nn.ReLU()\n"
           "        return resnet.BasicBlock.forward(self, x)"),
]
