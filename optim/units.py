"""Unit conversions. optim computes in SI (seconds, bytes); files carry the unit in the field name.

Decimal prefixes throughout (1 GB = 1e9 bytes), as GPU vendors quote memory; ``GIB`` only where
PETALS itself uses binary units.
"""
MS = 1e-3  #: seconds per millisecond
GB = 1e9  #: bytes per gigabyte
MB = 1e6  #: bytes per megabyte
GIB = 2**30  #: bytes per gibibyte (PETALS' autograd reserve)
TFLOPS = 1e12  #: FLOP/s per TFLOP/s
GB_PER_S = 1e9  #: bytes/s per GB/s
MBIT_PER_S = 1e6  #: bit/s per Mbit/s
