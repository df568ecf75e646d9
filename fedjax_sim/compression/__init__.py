"""Compression of client uploads: stochastic quantization and top-k
sparsification, with optional error feedback."""

from fedjax_sim.compression.compressor import Compressor, per_tensor
from fedjax_sim.compression.error_feedback import UPLOAD_BYTES, with_compression
from fedjax_sim.compression.settings import Settings, compress, compressor
from fedjax_sim.compression.quantize import quantize_tensor, quantized_bytes, stochastic_quantizer
from fedjax_sim.compression.topk import num_kept, top_k, top_k_tensor

__all__ = ['Compressor', 'per_tensor', 'compress', 'compressor', 'Settings', 'UPLOAD_BYTES', 'with_compression',
           'quantize_tensor', 'quantized_bytes', 'stochastic_quantizer',
           'num_kept', 'top_k', 'top_k_tensor']
