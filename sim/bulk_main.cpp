// Verilator main of the bulk bench (ivita.sim.bulk): loads the memory files, toggles clk until
// the bench calls $finish, then writes out.hex. Built with --prefix Vbulk --top-module
// ivita_bulk_tb and -DIVITA_IN_W=.. -DIVITA_OUT_W=.. (the IN_W/OUT_W parameters); no Python,
// no VPI, no tracing.
//
// The hex files are the ones $readmemh/$writememh read and write on Icarus (one value per
// line, no comments, no addresses: what ivita.sim.bulk_files writes), but they are parsed and
// printed here in C++ straight into / out of the bench's public memories, which costs a
// fraction of Verilator's character-by-character $readmemh/$writememh.
//   in.hex      -> in_mem   (IN_W bits, at most IN_DEPTH lines)
//   inpat.hex   -> in_pat, outpat.hex -> out_pat (1 bit, at most 2^PAT_BITS lines)
//   out_mem     -> out.hex  (OUT_W bits, min(got, OUT_DEPTH) lines, ceil(OUT_W/4) digits each,
//                            only when got > 0: as $writememh(..., 0, got - 1) would)
// setup.hex is small and stays with $readmemh. A malformed file ends the run with exit code 2
// and a message naming the file, the line and the limit.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "Vbulk.h"
#include "Vbulk___024root.h"
#include "verilated.h"

#ifndef IVITA_IN_W
#error "build with -DIVITA_IN_W=<IN_W> -DIVITA_OUT_W=<OUT_W>"
#endif

namespace {

[[noreturn]] void fail(const std::string& msg) {
    std::fprintf(stderr, "bulk_main: %s\n", msg.c_str());
    std::exit(2);
}

std::string slurp(const char* path) {
    std::FILE* f = std::fopen(path, "rb");
    if (!f) fail(std::string("cannot open ") + path);
    std::string data;
    char buf[1 << 16];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) data.append(buf, n);
    std::fclose(f);
    return data;
}

// Hex digit values by character (16 and up: not a hex digit): a table lookup instead of
// branches, which random digits would mispredict.
struct HexTable {
    uint8_t v[256];
    HexTable() {
        for (int c = 0; c < 256; ++c)
            v[c] = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
                 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : 0xff;
    }
};
const HexTable kHex;

// The element types Verilator uses for a memory word, filled from 32-bit words (LSW first).
void put(CData& d, const uint32_t* w) { d = static_cast<CData>(w[0]); }
void put(SData& d, const uint32_t* w) { d = static_cast<SData>(w[0]); }
void put(IData& d, const uint32_t* w) { d = w[0]; }
void put(QData& d, const uint32_t* w) { d = (static_cast<QData>(w[1]) << 32) | w[0]; }
template <std::size_t N>
void put(VlWide<N>& d, const uint32_t* w) {
    for (std::size_t i = 0; i < N; ++i) d[i] = w[i];
}
uint32_t get(const CData& d, int i) { return i ? 0 : d; }
uint32_t get(const SData& d, int i) { return i ? 0 : d; }
uint32_t get(const IData& d, int i) { return i ? 0 : d; }
uint32_t get(const QData& d, int i) { return i > 1 ? 0 : static_cast<uint32_t>(d >> (32 * i)); }
template <std::size_t N>
uint32_t get(const VlWide<N>& d, int i) { return static_cast<std::size_t>(i) < N ? d[i] : 0; }

// Parse `path` (one hex value of at most `width` bits per line) into mem[0..]; returns the lines.
template <typename Mem>
std::size_t load_hex(const char* path, Mem& mem, std::size_t depth, int width) {
    const std::string data = slurp(path);
    const int max_digits = (width + 3) / 4;
    std::vector<uint32_t> words((width + 31) / 32 + 2, 0);
    std::size_t line = 0, pos = 0;
    while (pos < data.size()) {
        std::size_t end = data.find('\n', pos);
        if (end == std::string::npos) end = data.size();
        const int digits = static_cast<int>(end - pos);
        if (digits == 0) fail(std::string(path) + ": line " + std::to_string(line + 1) +
                              " is empty");
        if (digits > max_digits)
            fail(std::string(path) + ": line " + std::to_string(line + 1) + " has " +
                 std::to_string(digits) + " hex digits; a " + std::to_string(width) +
                 "-bit value has at most " + std::to_string(max_digits));
        if (line >= depth)
            fail(std::string(path) + " has more than " + std::to_string(depth) +
                 " lines, the depth of its memory");
        std::fill(words.begin(), words.end(), 0);
        uint32_t bad = 0;
        const unsigned char* last = reinterpret_cast<const unsigned char*>(data.data()) + end - 1;
        for (int k = 0; k < digits; ++k) {       // k-th digit from the right
            const uint32_t v = kHex.v[last[-k]];
            bad |= v;
            words[k / 8] |= v << (4 * (k % 8));
        }
        if (bad & 0xf0)
            fail(std::string(path) + ": line " + std::to_string(line + 1) +
                 " holds a character that is not a hex digit");
        if (width % 32 && (words[width / 32] >> (width % 32)))
            fail(std::string(path) + ": line " + std::to_string(line + 1) + " does not fit " +
                 std::to_string(width) + " bits");
        put(mem[line], words.data());
        ++line;
        pos = end + 1;
    }
    return line;
}

template <typename Mem>
void dump_hex(const char* path, const Mem& mem, std::size_t count, int width) {
    static const char digit[] = "0123456789abcdef";
    const int n = (width + 3) / 4;
    std::string out;
    out.resize(count * (n + 1));
    char* p = out.data();
    for (std::size_t i = 0; i < count; ++i) {
        for (int k = 0; k < n; ++k)              // k-th digit from the right
            p[n - 1 - k] = digit[(get(mem[i], k / 8) >> (4 * (k % 8))) & 15];
        p[n] = '\n';
        p += n + 1;
    }
    std::FILE* f = std::fopen(path, "wb");
    if (!f || std::fwrite(out.data(), 1, out.size(), f) != out.size() || std::fclose(f))
        fail(std::string("cannot write ") + path);
}

}  // namespace

int main(int argc, char** argv) {
    const std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};
    ctx->commandArgs(argc, argv);
    const std::unique_ptr<Vbulk> top{new Vbulk{ctx.get(), "TOP"}};
    Vbulk___024root& r = *top->rootp;
    auto& in_mem = r.ivita_bulk_tb__DOT__in_mem;
    auto& out_mem = r.ivita_bulk_tb__DOT__out_mem;
    load_hex("in.hex", in_mem, in_mem.size(), IVITA_IN_W);
    load_hex("inpat.hex", r.ivita_bulk_tb__DOT__in_pat, r.ivita_bulk_tb__DOT__in_pat.size(), 1);
    load_hex("outpat.hex", r.ivita_bulk_tb__DOT__out_pat, r.ivita_bulk_tb__DOT__out_pat.size(),
             1);
    top->clk = 0;
    top->eval();
    while (!ctx->gotFinish()) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }
    const QData got = r.ivita_bulk_tb__DOT__got;
    if (got > 0) {
        const std::size_t depth = out_mem.size();
        dump_hex("out.hex", out_mem, got < depth ? static_cast<std::size_t>(got) : depth,
                 IVITA_OUT_W);
    }
    top->final();
    return 0;
}
