"""Mutants of notebook 07 (normalization layers)."""
from mutants import Mutant

BN, LAYER, BACKWARD = "batch_norm_solution", "BatchNorm2d_solution", "batch_norm_backward_solution"
LN, IN, GN, PN = ("layer_norm_solution", "instance_norm_solution", "group_norm_solution",
                  "pixel_norm_solution")

MUTANTS = [
    Mutant("batch_norm", BN, "unbiased variance in the normalization",
           "var = x.var(axis=(0, 2, 3), keepdims=True)",
           "var = x.var(axis=(0, 2, 3), keepdims=True, ddof=1)"),
    Mutant("batch_norm", BN, "eps outside the square root",
           "x_hat = (x - mean) / np.sqrt(var + eps)", "x_hat = (x - mean) / (np.sqrt(var) + eps)"),
    Mutant("batch_norm", BN, "statistics per sample over (C, H, W)",
           "mean = x.mean(axis=(0, 2, 3), keepdims=True)\n    var = x.var(axis=(0, 2, 3), keepdims=True)",
           "mean = x.mean(axis=(1, 2, 3), keepdims=True)\n    var = x.var(axis=(1, 2, 3), keepdims=True)"),
    Mutant("batch_norm", BN, "statistics over (H, W) only",
           "mean = x.mean(axis=(0, 2, 3), keepdims=True)\n    var = x.var(axis=(0, 2, 3), keepdims=True)",
           "mean = x.mean(axis=(2, 3), keepdims=True)\n    var = x.var(axis=(2, 3), keepdims=True)"),
    Mutant("batch_norm", BN, "gamma and beta swapped",
           "return gamma[None, :, None, None] * x_hat + beta[None, :, None, None]\n\n\ndef as_batch",
           "return beta[None, :, None, None] * x_hat + gamma[None, :, None, None]\n\n\ndef as_batch"),
    Mutant("batch_norm", BN, "accepts a single value per channel",
           "if x.shape[0] * x.shape[2] * x.shape[3] < 2:", "if x.shape[0] * x.shape[2] * x.shape[3] < 1:"),

    Mutant("BatchNorm2d", LAYER, "biased variance in running_var",
           "self.momentum * var * count / (count - 1))", "self.momentum * var)"),
    Mutant("BatchNorm2d", LAYER, "momentum used as (1 - momentum)",
           "self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean\n"
           "            self.running_var = ((1 - self.momentum) * self.running_var\n"
           "                                + self.momentum * var",
           "self.running_mean = self.momentum * self.running_mean + (1 - self.momentum) * mean\n"
           "            self.running_var = (self.momentum * self.running_var\n"
           "                                + (1 - self.momentum) * var"),
    Mutant("BatchNorm2d", LAYER, "eval mode still uses the batch statistics",
           "if self.training:", "if True:"),
    Mutant("BatchNorm2d", LAYER, "normalizes with the updated running statistics in training",
           "                                + self.momentum * var * count / (count - 1))\n"
           "        else:\n            mean, var = self.running_mean, self.running_var",
           "                                + self.momentum * var * count / (count - 1))\n"
           "        mean, var = self.running_mean, self.running_var"),
    Mutant("BatchNorm2d", LAYER, "running_mean not updated",
           "self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * mean",
           "self.running_mean = self.running_mean"),
    Mutant("BatchNorm2d", LAYER, "running variance initialised to zero",
           "self.running_var = np.ones(num_features)", "self.running_var = np.zeros(num_features)"),
    Mutant("BatchNorm2d", LAYER, "accepts a momentum above 1",
           "if not 0 <= momentum <= 1:", "if not 0 <= momentum:"),

    Mutant("batch_norm_backward", BACKWARD, "the path through the mean is missing",
           "dx = inv_std * (g - g.mean(axis=axes, keepdims=True)\n                    - x_hat",
           "dx = inv_std * (g\n                    - x_hat"),
    Mutant("batch_norm_backward", BACKWARD, "the path through the variance is missing",
           "\n                    - x_hat * (g * x_hat).mean(axis=axes, keepdims=True))", ")"),
    Mutant("batch_norm_backward", BACKWARD, "dgamma not summed over N, H, W",
           "dgamma = (grad_out * x_hat).sum(axis=axes)", "dgamma = (grad_out * x_hat).sum(axis=0)"),
    Mutant("batch_norm_backward", BACKWARD, "dbeta averaged instead of summed",
           "dbeta = grad_out.sum(axis=axes)", "dbeta = grad_out.mean(axis=axes)"),
    Mutant("batch_norm_backward", BACKWARD, "gamma left out of dx",
           "g = grad_out * gamma[None, :, None, None]", "g = grad_out"),
    Mutant("batch_norm_backward", BACKWARD, "unbiased variance",
           "inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True) + eps)",
           "inv_std = 1.0 / np.sqrt(x.var(axis=axes, keepdims=True, ddof=1) + eps)"),

    Mutant("layer_norm", LN, "statistics over (H, W) only (instance norm)",
           "mean = x.mean(axis=(1, 2, 3), keepdims=True)\n    var = x.var(axis=(1, 2, 3), keepdims=True)",
           "mean = x.mean(axis=(2, 3), keepdims=True)\n    var = x.var(axis=(2, 3), keepdims=True)"),
    Mutant("layer_norm", LN, "unbiased variance",
           "var = x.var(axis=(1, 2, 3), keepdims=True)", "var = x.var(axis=(1, 2, 3), keepdims=True, ddof=1)"),
    Mutant("layer_norm", LN, "eps outside the square root",
           "np.sqrt(var + eps) + beta", "(np.sqrt(var) + eps) + beta"),
    Mutant("layer_norm", LN, "statistics over the whole batch",
           "mean = x.mean(axis=(1, 2, 3), keepdims=True)\n    var = x.var(axis=(1, 2, 3), keepdims=True)",
           "mean = x.mean(keepdims=True)\n    var = x.var(keepdims=True)"),

    Mutant("instance_norm", IN, "statistics per channel over (N, H, W) (batch norm)",
           "mean = x.mean(axis=(2, 3), keepdims=True)\n    var = x.var(axis=(2, 3), keepdims=True)",
           "mean = x.mean(axis=(0, 2, 3), keepdims=True)\n    var = x.var(axis=(0, 2, 3), keepdims=True)"),
    Mutant("instance_norm", IN, "statistics per sample over (C, H, W) (layer norm)",
           "mean = x.mean(axis=(2, 3), keepdims=True)\n    var = x.var(axis=(2, 3), keepdims=True)",
           "mean = x.mean(axis=(1, 2, 3), keepdims=True)\n    var = x.var(axis=(1, 2, 3), keepdims=True)"),
    Mutant("instance_norm", IN, "unbiased variance",
           "var = x.var(axis=(2, 3), keepdims=True)", "var = x.var(axis=(2, 3), keepdims=True, ddof=1)"),
    Mutant("instance_norm", IN, "eps ignored",
           "return (x - mean) / np.sqrt(var + eps)", "return (x - mean) / np.sqrt(var)"),

    Mutant("group_norm", GN, "groups interleaved instead of contiguous",
           "groups = x.reshape(n, num_groups, c // num_groups * h * w)\n"
           "    mean = groups.mean(axis=2, keepdims=True)\n"
           "    var = groups.var(axis=2, keepdims=True)\n"
           "    x_hat = ((groups - mean) / np.sqrt(var + eps)).reshape(n, c, h, w)",
           "groups = x.reshape(n, c // num_groups, num_groups, h * w).transpose(0, 2, 1, 3)\n"
           "    mean = groups.mean(axis=(2, 3), keepdims=True)\n"
           "    var = groups.var(axis=(2, 3), keepdims=True)\n"
           "    x_hat = ((groups - mean) / np.sqrt(var + eps)).transpose(0, 2, 1, 3).reshape(n, c, h, w)"),
    Mutant("group_norm", GN, "statistics over the channels of a group only, per position",
           "groups = x.reshape(n, num_groups, c // num_groups * h * w)\n"
           "    mean = groups.mean(axis=2, keepdims=True)\n    var = groups.var(axis=2, keepdims=True)",
           "groups = x.reshape(n, num_groups, c // num_groups, h * w)\n"
           "    mean = groups.mean(axis=2, keepdims=True)\n    var = groups.var(axis=2, keepdims=True)"),
    Mutant("group_norm", GN, "unbiased variance",
           "var = groups.var(axis=2, keepdims=True)", "var = groups.var(axis=2, keepdims=True, ddof=1)"),
    Mutant("group_norm", GN, "groups of num_groups channels (G read as the group size)",
           "groups = x.reshape(n, num_groups, c // num_groups * h * w)",
           "groups = x.reshape(n, c // num_groups, num_groups * h * w)"),
    Mutant("group_norm", GN, "num_groups = 0 not rejected",
           "if num_groups < 1 or c % num_groups:", "if c % num_groups:"),

    Mutant("pixel_norm", PN, "eps outside the square root",
           "np.sqrt(np.mean(x ** 2, axis=1, keepdims=True) + eps)",
           "(np.sqrt(np.mean(x ** 2, axis=1, keepdims=True)) + eps)"),
    Mutant("pixel_norm", PN, "sum of squares instead of the mean",
           "np.mean(x ** 2, axis=1, keepdims=True)", "np.sum(x ** 2, axis=1, keepdims=True)"),
    Mutant("pixel_norm", PN, "normalized over (H, W) instead of C",
           "np.mean(x ** 2, axis=1, keepdims=True)", "np.mean(x ** 2, axis=(2, 3), keepdims=True)"),
    Mutant("pixel_norm", PN, "mean subtracted first (a layer norm over C)",
           "return x / np.sqrt(", "x = x - x.mean(axis=1, keepdims=True)\n    return x / np.sqrt("),
]
