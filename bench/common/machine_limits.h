// This machine's limits, measured in the same run as the benchmark that
// compares against them (2-thread bandwidth here is bimodal, 40 or 70–83 GB/s
// for minutes at a time, so a figure from another run is not comparable).
//
// All functions use OpenMP with num_threads(threads); each returns the BEST of
// several repetitions (the least disturbed one: the others compile on these
// cores too) and takes well under a second:
//   measure_read_bandwidth_gbs   ~5 passes over `bytes` after one warm pass
//                                (e.g. 0.2 s for 1 GiB on 2 threads), plus the
//                                allocation and page pre-touch of the buffer;
//   measure_*_peak_*             5 repetitions of ~20 ms each (~0.1 s).
// The peak loops are register-resident with enough independent accumulator
// chains to cover the instruction latency (12 for vdpbf16ps / FMA; 10 for
// vpdpbusd, which halves its rate with 16 — see docs/machine.md). A GFLOP is a
// multiply-add counted as 2. Each probe measures the ISA tier in use (MSA_ISA
// or the best the CPU has): AVX-512 loops (vdpbf16ps, vpdpbusd, zmm FMA and
// loads) where the tier has them, else the AVX2 loops the AVX2 kernels issue
// (ymm FMA for f32 and bf16 — bf16 is widened to f32 there —, vpmaddubsw +
// vpmaddwd for int8, ymm loads), else scalar loops: never 0, so no ratio is inf.
// print_isa_path() writes the `# isa_path: <tier>` and `# cpu: <model>` lines
// every benchmark starts with.
#pragma once

#include <cstddef>

namespace msa::bench {

// STREAM-like read (sum reduction with 512-bit loads) of a buffer of `bytes`,
// each thread reading its contiguous share; pages are pre-touched by the
// thread that reads them. Pass a buffer as large as the data being compared.
double measure_read_bandwidth_gbs(size_t bytes, int threads);

// vdpbf16ps peak (2 bf16 products + adds per f32 lane per instruction).
double measure_bf16_peak_gflops(int threads);

// vfmadd231ps zmm peak.
double measure_fp32_peak_gflops(int threads);

// vpdpbusd peak (u8×s8, 4 products + adds per i32 lane), in GOP/s.
double measure_int8_peak_gops(int threads);

// "# isa_path: avx2" and "# cpu: <model name> (<vector extensions>)" comment lines on stdout.
void print_isa_path();

}  // namespace msa::bench
