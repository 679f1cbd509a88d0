// Verilator main of the bulk bench (ivita.sim.bulk): toggles clk until the bench calls $finish.
// Built with --prefix Vbulk --top-module ivita_bulk_tb; no Python, no VPI, no tracing.
#include <memory>

#include "Vbulk.h"
#include "verilated.h"

int main(int argc, char** argv) {
    const std::unique_ptr<VerilatedContext> ctx{new VerilatedContext};
    ctx->commandArgs(argc, argv);
    const std::unique_ptr<Vbulk> top{new Vbulk{ctx.get(), "TOP"}};
    top->clk = 0;
    top->eval();
    while (!ctx->gotFinish()) {
        top->clk = 1;
        top->eval();
        top->clk = 0;
        top->eval();
    }
    top->final();
    return 0;
}
