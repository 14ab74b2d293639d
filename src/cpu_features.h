// CPU features that Highway 1.0.3 does not report: the bf16 dot-product
// instructions, which mhsa uses through its own hand-written kernels.
#ifndef MHSA_SRC_CPU_FEATURES_H_
#define MHSA_SRC_CPU_FEATURES_H_

namespace mhsa {

// x86: AVX512_BF16 (vdpbf16ps, vcvtne2ps2bf16) usable: CPUID leaf 7 subleaf 1
// EAX bit 5, together with AVX512F/BW/VL/DQ, the OS saving the AVX-512 state
// (XGETBV: XCR0 bits 1, 2, 5, 6, 7) and Highway's AVX3 target supported.
// False on other architectures.
bool CpuHasAvx512Bf16();

// x86: AMX with bf16 tiles usable: CPUID leaf 7 EDX bits 22 (AMX-BF16) and
// 24 (AMX-TILE), the OS enabling the tile state (XCR0 bits 17, 18), Linux
// granting this process the tile data (arch_prctl ARCH_REQ_XCOMP_PERM,
// requested here once), and CpuHasAvx512Bf16 (the AMX kernel's edges use
// vdpbf16ps). False elsewhere.
bool CpuHasAmxBf16();

// Arm: FEAT_BF16 (BFDOT, BFMMLA, BFCVT) reported by the kernel:
// getauxval(AT_HWCAP2) & HWCAP2_BF16. False on other architectures.
bool CpuHasArmBf16();

}  // namespace mhsa

#endif  // MHSA_SRC_CPU_FEATURES_H_
