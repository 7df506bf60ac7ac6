"""Device profiles for `latency_estimate`: peak throughput and memory bandwidth.

Every figure is a vendor's peak (or derived from the vendor's core count,
clock and the core's documented per-cycle throughput, as shown beside it);
nothing here was measured. Peaks are dense: sparsity-only figures are halved.
A roofline from peaks is a lower bound on latency, useful to compare two
versions of a model on a device the CI runner does not have, not to promise
a frame rate. Users add or override profiles under `devices:` in the budget.

Torch-free: the budget loader imports this table to check target names.
"""

from __future__ import annotations

from dataclasses import dataclass

T = 1e12
G = 1e9


@dataclass(frozen=True)
class DeviceProfile:
    """Peaks in operations per second (FLOP/s, int8 OP/s) and bytes per second."""

    name: str
    title: str
    fp32: float
    fp16: float
    int8: float
    bandwidth: float
    source: str = ""

    def peak(self, precision: str) -> float:
        """The peak that bounds an op of `precision` ("fp32", "fp16", "int8")."""
        return {"fp16": self.fp16, "int8": self.int8}.get(precision, self.fp32)


SHIPPED: dict[str, DeviceProfile] = {
    p.name: p
    for p in (
        # NVIDIA Jetson Orin Nano Series Data Sheet, DS-11105-001 (8GB module, 15 W mode):
        # "up to 40 (sparse) INT8 TOPS and 20 (dense)"; 1024 CUDA cores, 32 Tensor Cores,
        # GPU max 625 MHz; 8GB 128-bit LPDDR5, 68 GB/s.
        # fp32 = 1024 cores x 2 FLOP/FMA x 0.625 GHz = 1.28 TFLOP/s;
        # fp16 = dense INT8 / 2 (Ampere tensor cores do twice as many int8 as fp16 ops) = 10 TFLOP/s.
        DeviceProfile(
            "jetson-orin-nano",
            "NVIDIA Jetson Orin Nano 8GB",
            fp32=1.28 * T,
            fp16=10 * T,
            int8=20 * T,
            bandwidth=68 * G,
            source="NVIDIA Jetson Orin Nano Series Data Sheet DS-11105-001",
        ),
        # Raspberry Pi 5 product brief (https://datasheets.raspberrypi.com/rpi5/raspberry-pi-5-product-brief.pdf):
        # BCM2712, 4x Arm Cortex-A76 at 2.4 GHz, LPDDR4X-4267 on a 32-bit bus.
        # Cortex-A76 (Arm Cortex-A76 Software Optimization Guide): two 128-bit NEON FMA pipes.
        # fp32 = 4 cores x 2.4 GHz x (2 pipes x 4 lanes x 2 FLOP) = 153.6 GFLOP/s;
        # fp16 = 8 lanes per pipe: 307.2 GFLOP/s; int8 = SDOT, 16 MACs per pipe: 4 x 2.4 x 64 = 614.4 GOP/s;
        # bandwidth = 4 bytes x 4.267 GT/s = 17.1 GB/s.
        DeviceProfile(
            "raspberry-pi-5",
            "Raspberry Pi 5",
            fp32=153.6 * G,
            fp16=307.2 * G,
            int8=614.4 * G,
            bandwidth=17.1 * G,
            source="Raspberry Pi 5 product brief; Arm Cortex-A76 Software Optimization Guide",
        ),
        # NVIDIA T4 Tensor Core GPU data sheet
        # (https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/tesla-t4/t4-tensor-core-datasheet-951643.pdf):
        # FP32 8.1 TFLOPS, mixed precision (FP16/FP32) 65 TFLOPS, INT8 130 TOPS, GDDR6 320 GB/s.
        DeviceProfile(
            "t4",
            "NVIDIA T4",
            fp32=8.1 * T,
            fp16=65 * T,
            int8=130 * T,
            bandwidth=320 * G,
            source="NVIDIA T4 Tensor Core GPU data sheet",
        ),
        # NVIDIA A100 Tensor Core GPU data sheet
        # (https://www.nvidia.com/content/dam/en-zz/Solutions/Data-Center/a100/pdf/nvidia-a100-datasheet-us-nvidia-1758950-r4-web.pdf),
        # A100 80GB SXM: FP32 19.5 TFLOPS (fp32 matmuls in PyTorch do not use TF32 by default),
        # FP16 Tensor Core 312 TFLOPS, INT8 Tensor Core 624 TOPS (dense), HBM2e 2,039 GB/s.
        DeviceProfile(
            "a100",
            "NVIDIA A100 SXM4 80GB",
            fp32=19.5 * T,
            fp16=312 * T,
            int8=624 * T,
            bandwidth=2039 * G,
            source="NVIDIA A100 Tensor Core GPU data sheet",
        ),
        # NVIDIA H100 Tensor Core GPU data sheet
        # (https://resources.nvidia.com/en-us-tensor-core/nvidia-tensor-core-gpu-datasheet), H100 SXM:
        # FP32 67 TFLOPS; FP16 Tensor Core 1,979 and INT8 3,958 (both with sparsity: dense is half);
        # HBM3 3.35 TB/s.
        DeviceProfile(
            "h100",
            "NVIDIA H100 SXM5 80GB",
            fp32=67 * T,
            fp16=989.5 * T,
            int8=1979 * T,
            bandwidth=3350 * G,
            source="NVIDIA H100 Tensor Core GPU data sheet",
        ),
        # A typical laptop CPU: Intel Core i7-1165G7, Intel ARK product 208662
        # (https://www.intel.com/content/www/us/en/products/sku/208662/intel-core-i71165g7-processor-12m-cache-up-to-4-70-ghz/specifications.html):
        # 4 cores, base 2.8 GHz at 28 W (sustained, unlike the 4.7 GHz single-core turbo),
        # AVX-512 with one 512-bit FMA unit per core, VNNI, no FP16 arithmetic; DDR4-3200.
        # fp32 = 4 cores x 2.8 GHz x (16 lanes x 2 FLOP) = 358.4 GFLOP/s; fp16 = fp32 (converted);
        # int8 = VPDPBUSD, 64 MACs per cycle: 4 x 2.8 x 128 = 1.43 TOP/s;
        # bandwidth = 2 channels x 8 bytes x 3.2 GT/s = 51.2 GB/s.
        DeviceProfile(
            "laptop-cpu",
            "laptop CPU (Intel Core i7-1165G7)",
            fp32=358.4 * G,
            fp16=358.4 * G,
            int8=1433.6 * G,
            bandwidth=51.2 * G,
            source="Intel ARK, Core i7-1165G7 (product 208662)",
        ),
    )
}
