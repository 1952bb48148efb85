"""Unit conversions. optim computes in SI (seconds, bytes); files carry the unit in the field name.

Decimal prefixes in files and code (1 GB = 1e9 bytes); ``GIB`` where a quantity is binary: GPU
memory as vendors state it (an "80GB" A100 has 80 GiB, see :mod:`optim.gpu`) and PETALS' own reserves.
"""
MS = 1e-3  #: seconds per millisecond
GB = 1e9  #: bytes per gigabyte
MB = 1e6  #: bytes per megabyte
GIB = 2**30  #: bytes per gibibyte (PETALS' autograd reserve)
TFLOPS = 1e12  #: FLOP/s per TFLOP/s
GB_PER_S = 1e9  #: bytes/s per GB/s
MBIT_PER_S = 1e6  #: bit/s per Mbit/s
