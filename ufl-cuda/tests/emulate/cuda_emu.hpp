// Just enough of CUDA to run ufl-cuda's kernel source on the CPU, one OS thread per CUDA
// thread: __syncthreads is a barrier of the block's threads, __shfl_down_sync a barrier of the
// warp's 32 threads around an exchange through memory, __shared__ arrays are statics (blocks
// run one after the other). Used by tests/emulate.rs to check the kernel source itself, bit
// for bit, against the host replay; nothing here is part of the backend.
#pragma once
#include <barrier>
#include <cmath>
#include <cstddef>
#include <memory>
#include <thread>
#include <vector>

using std::exp;
using std::log;
using std::pow;

#define __global__
#define __device__
#define __forceinline__ inline
#define __launch_bounds__(threads)
#define __shared__ static

struct float4 {
    float x, y, z, w;
};

struct EmuDim {
    unsigned int x, y, z;
};

inline thread_local EmuDim threadIdx{0, 0, 0};
inline thread_local EmuDim blockIdx{0, 0, 0};
inline EmuDim blockDim{1, 1, 1};

struct EmuBlock {
    std::unique_ptr<std::barrier<>> block;
    std::vector<std::unique_ptr<std::barrier<>>> warps;
    std::vector<float> lanes;
};

inline EmuBlock* emu_block = nullptr;

inline void __syncthreads() { emu_block->block->arrive_and_wait(); }

inline float __shfl_down_sync(unsigned int, float v, int offset) {
    const unsigned int t = threadIdx.x;
    const unsigned int lane = t & 31u;
    std::barrier<>& warp = *emu_block->warps[t >> 5];
    emu_block->lanes[t] = v;
    warp.arrive_and_wait();
    const float r = (lane + offset < 32u) ? emu_block->lanes[t + offset] : v;
    warp.arrive_and_wait();
    return r;
}

// Runs `kernel(block, thread)` for every thread of every block; with `synchronising`, the
// threads of a block run concurrently (barriers and shuffles), else one after the other.
template <class Kernel>
void emu_launch(unsigned int blocks, unsigned int threads, bool synchronising, Kernel kernel) {
    blockDim = EmuDim{threads, 1, 1};
    for (unsigned int b = 0; b < blocks; ++b) {
        if (!synchronising) {
            for (unsigned int t = 0; t < threads; ++t) {
                blockIdx = EmuDim{b, 0, 0};
                threadIdx = EmuDim{t, 0, 0};
                kernel();
            }
            continue;
        }
        EmuBlock state;
        state.block = std::make_unique<std::barrier<>>(threads);
        for (unsigned int w = 0; w < threads / 32; ++w)
            state.warps.push_back(std::make_unique<std::barrier<>>(32));
        state.lanes.assign(threads, 0.0f);
        emu_block = &state;
        std::vector<std::thread> pool;
        for (unsigned int t = 0; t < threads; ++t) {
            pool.emplace_back([=] {
                blockIdx = EmuDim{b, 0, 0};
                threadIdx = EmuDim{t, 0, 0};
                kernel();
            });
        }
        for (auto& th : pool) th.join();
        emu_block = nullptr;
    }
}
