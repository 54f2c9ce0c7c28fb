// Runs the three kernels of one variant (kernel.cu, the generated source, in the same folder
// at compile time) on the CPU through cuda_emu.hpp. Reads DIR/meta.txt, DIR/pred.bin and
// DIR/target.bin; writes DIR/partial.bin, stats.bin, coef.bin, loss.bin, grad.bin (raw f32).
#include "cuda_emu.hpp"
#include "kernel.cu"

#include <cstdio>
#include <fstream>
#include <string>

static std::vector<float> read_f32(const std::string& path, size_t n) {
    std::vector<float> v(n);
    std::ifstream f(path, std::ios::binary);
    f.read(reinterpret_cast<char*>(v.data()), n * sizeof(float));
    if (!f) { std::fprintf(stderr, "cannot read %s\n", path.c_str()); std::exit(2); }
    return v;
}

static void write_f32(const std::string& path, const std::vector<float>& v) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float));
}

int main(int argc, char** argv) {
    if (argc != 2) return 2;
    const std::string dir = argv[1];
    std::ifstream meta(dir + "/meta.txt");
    UflScalars sc;
    unsigned int stats_blocks, grad_blocks, stats_threads, finalize_threads, grad_threads;
    size_t elements, partial_len, planes, loss_len, classes;
    meta >> sc.lo >> sc.hi >> sc.smooth >> sc.delta >> sc.gamma >> sc.lambda >> sc.has_weight
         >> sc.reduction >> sc.class_mean >> sc.batch >> sc.spatial >> sc.chunks;
    meta >> stats_blocks >> grad_blocks >> stats_threads >> finalize_threads >> grad_threads;
    meta >> elements >> partial_len >> planes >> loss_len >> classes;
    std::vector<int> rare(classes);
    for (auto& r : rare) meta >> r;
    if (!meta) { std::fprintf(stderr, "bad meta.txt\n"); return 2; }

    const std::vector<float> pred = read_f32(dir + "/pred.bin", elements);
    const std::vector<float> target = read_f32(dir + "/target.bin", elements);
    std::vector<float> partial(partial_len, 0.0f), stats(planes * 4, 0.0f), coef(planes * 4, 0.0f),
        loss(loss_len, 0.0f), grad(elements, 0.0f);

    emu_launch(stats_blocks, stats_threads, true, [&] {
        ufl_stats(pred.data(), target.data(), rare.data(), sc, partial.data());
    });
    emu_launch(1, finalize_threads, true, [&] {
        ufl_finalize(partial.data(), rare.data(), sc, stats.data(), coef.data(), loss.data());
    });
    emu_launch(grad_blocks, grad_threads, false, [&] {
        ufl_gradient(pred.data(), target.data(), rare.data(), sc, coef.data(), grad.data());
    });

    write_f32(dir + "/partial.bin", partial);
    write_f32(dir + "/stats.bin", stats);
    write_f32(dir + "/coef.bin", coef);
    write_f32(dir + "/loss.bin", loss);
    write_f32(dir + "/grad.bin", grad);
    return 0;
}
