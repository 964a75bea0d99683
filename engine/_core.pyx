# Throwaway hub for the reader branch: the real hub in main includes the
# same file alongside the decode/flow parts.
from libc.stdint cimport uint8_t, uint32_t

include "_capfile.pxi"
