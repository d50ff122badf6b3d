"""The graded contract of the course design (COURSE.md): assignment -> graded functions.

Tests, mutants and anything outside the notebooks rely on these names.
"""
GRADED_FUNCTIONS = {
    "01_convolution": ["correlate1d", "convolve1d", "correlate2d", "convolve2d", "conv2d",
                       "conv2d_im2col", "gaussian_kernel", "sobel_kernels"],
    "02_output_size": ["conv_output_size", "pool_output_size", "conv_transpose_output_size",
                       "same_padding", "receptive_field"],
    "03_parameters": ["conv2d_params", "linear_params", "depthwise_separable_params",
                      "conv2d_macs", "count_params"],
    "04_backprop_matrix": ["conv1d_matrix", "conv2d_matrix", "conv2d_backward",
                           "numerical_gradient"],
    "05_pooling": ["max_pool2d", "avg_pool2d", "max_pool2d_backward", "avg_pool2d_backward",
                   "global_avg_pool"],
    "06_upsampling": ["nearest_upsample", "bed_of_nails_upsample", "max_unpool2d",
                      "conv_transpose1d", "conv_transpose2d", "bilinear_kernel"],
    "07_normalization": ["batch_norm", "BatchNorm2d", "layer_norm", "instance_norm", "group_norm",
                         "pixel_norm", "batch_norm_backward"],
    "08_residual": ["residual_input_grad", "gradient_norms", "gradient_correlation", "BasicBlock"],
    "09_hmax_transfer": ["gabor_kernel", "s1_layer", "c1_layer", "s2_layer", "c2_layer", "freeze",
                         "replace_head"],
    "10_convnet": ["relu", "relu_backward", "softmax", "softmax_cross_entropy", "im2col", "col2im",
                   "Conv2d", "MaxPool2d", "Flatten", "Linear", "ConvNet", "sgd_momentum_step",
                   "train"],
}
