// Bulk bit-exact bench: streams $readmemh vectors through a design with a seeded stall pattern
// and no Python in the loop (ivita.sim.bulk; docs/verification.md, "Bulk checks").
//
// ivita_bulk_tb instantiates ivita_bulk_dut, a wrapper generated per design
// (ivita.sim.bulk_build) that maps these generic ports onto the design's stream and
// set-up/status ports. Files are read from and written to the current directory:
//   in.hex      input payloads, one per line           (IN_DEPTH deep)
//   setup.hex   set-up words, one per set-up cycle     (SET_DEPTH deep)
//   inpat.hex   input idle pattern, 1 bit per cycle    (2^PAT_BITS, used cyclically)
//   outpat.hex  output stall pattern, 1 bit per cycle  (2^PAT_BITS, used cyclically)
//   out.hex     the output payloads received, in order ($writememh at the end)
//   status.txt  counters and the design's status ports ("key value" lines)
// On Verilator, bulk_main.cpp reads in.hex, inpat.hex and outpat.hex into the memories before
// the first cycle and writes out.hex after $finish (same format; much faster than Verilator's
// $readmemh/$writememh), so those calls are for Icarus only.
// Plusargs: +n_in=N +n_out=N +n_set=N +max_cycles=N.
//
// Cycle schedule: reset for 3 cycles, the set-up words one per cycle, 2 idle cycles, then the
// stream phase: the input driver presents beat i (valid high, payload held until accepted);
// between beats it idles in every cycle whose inpat bit is 1. The output side lowers ready in
// every cycle whose outpat bit is 1 until all n_out beats arrived, then keeps it high for TAIL
// more cycles so extra beats are seen. The run ends after the tail, or at max_cycles (status
// "timeout 1"). Stream rules are checked on the design's output: a beat offered without ready
// must stay valid and unchanged until taken (rule_errors counts violations).
`timescale 1ns/1ps
module ivita_bulk_tb #(
    parameter IN_W = 8, parameter OUT_W = 8, parameter SET_W = 1, parameter STAT_W = 1,
    parameter IN_DEPTH = 16, parameter OUT_DEPTH = 16, parameter SET_DEPTH = 1,
    parameter PAT_BITS = 16, parameter TAIL = 16
) (
    input wire clk
);
    localparam PAT_LEN = 1 << PAT_BITS;

    // On Verilator, bulk_main.cpp fills in_mem/in_pat/out_pat from the files and writes out_mem
    // to out.hex (public: it reads and writes them); on Icarus, $readmemh/$writememh do.
    reg [IN_W-1:0]  in_mem  [0:IN_DEPTH-1] /* verilator public_flat */;
    reg [OUT_W-1:0] out_mem [0:OUT_DEPTH-1] /* verilator public_flat */;
    reg [SET_W-1:0] set_mem [0:SET_DEPTH-1];
    reg             in_pat  [0:PAT_LEN-1] /* verilator public_flat */;
    reg             out_pat [0:PAT_LEN-1] /* verilator public_flat */;

    reg [63:0] n_in, n_out, n_set, max_cycles;

    // design-side signals
    reg              rst = 1'b1;
    reg              in_valid = 1'b0;
    wire             in_ready;
    reg  [IN_W-1:0]  in_payload = {IN_W{1'b0}};
    wire             out_valid;
    reg              out_ready = 1'b0;
    wire [OUT_W-1:0] out_payload;
    reg  [SET_W-1:0] setup = {SET_W{1'b0}};
    wire [STAT_W-1:0] status;

    ivita_bulk_dut dut (
        .clk(clk), .rst(rst),
        .in_valid(in_valid), .in_ready(in_ready), .in_payload(in_payload),
        .out_valid(out_valid), .out_ready(out_ready), .out_payload(out_payload),
        .setup(setup), .status(status)
    );

    // bench state
    localparam PH_RESET = 3'd0, PH_SETUP = 3'd1, PH_GAP = 3'd2, PH_STREAM = 3'd3,
               PH_TAIL = 3'd4, PH_DONE = 3'd5;
    reg [2:0]  phase = PH_RESET;
    reg [63:0] cycle = 64'd0;
    reg [63:0] count = 64'd0;           // cycles left in the reset/gap/tail phase, set-up index
    reg [63:0] in_idx = 64'd0;          // next input beat to present / being presented
    reg [63:0] got /* verilator public_flat */ = 64'd0;  // output beats received
    reg [PAT_BITS-1:0] pat_i = {PAT_BITS{1'b0}};
    reg [63:0] stream_start = 64'd0;
    reg [63:0] first_in = 64'hFFFFFFFFFFFFFFFF, first_out = 64'hFFFFFFFFFFFFFFFF;
    reg [63:0] last_out = 64'hFFFFFFFFFFFFFFFF;
    reg [63:0] in_idle_cycles = 64'd0;  // cycles the idle pattern kept valid low between beats
    reg [63:0] in_wait_cycles = 64'd0;  // valid high, design not ready (its back-pressure)
    reg [63:0] out_stall_cycles = 64'd0;  // design offered a beat, ready low (pattern)
    reg [63:0] rule_errors = 64'd0;
    reg [63:0] first_rule_error = 64'hFFFFFFFFFFFFFFFF;
    reg        held = 1'b0;              // last cycle: out_valid & ~out_ready
    reg [OUT_W-1:0] held_payload = {OUT_W{1'b0}};
    integer    fd;

    initial begin
        if (!$value$plusargs("n_in=%d", n_in)) n_in = 0;
        if (!$value$plusargs("n_out=%d", n_out)) n_out = 0;
        if (!$value$plusargs("n_set=%d", n_set)) n_set = 0;
        if (!$value$plusargs("max_cycles=%d", max_cycles)) max_cycles = 64'd1000000;
        if (n_in > IN_DEPTH || n_set > SET_DEPTH) begin
            $display("ivita_bulk_tb: n_in=%0d exceeds IN_DEPTH=%0d or n_set=%0d exceeds SET_DEPTH=%0d",
                     n_in, IN_DEPTH, n_set, SET_DEPTH);
            $finish;
        end
        if (n_set > 0) $readmemh("setup.hex", set_mem);
`ifndef VERILATOR
        if (n_in > 0) $readmemh("in.hex", in_mem);
        $readmemh("inpat.hex", in_pat);
        $readmemh("outpat.hex", out_pat);
`endif
    end

    wire in_fire = in_valid & in_ready;
    wire out_fire = out_valid & out_ready;
    wire [63:0] in_next = in_idx + {63'd0, in_fire};
    wire [63:0] got_next = got + {63'd0, out_fire};

    always @(posedge clk) begin
        cycle <= cycle + 64'd1;
        case (phase)
            PH_RESET: begin
                if (count == 64'd2) begin
                    rst <= 1'b0;
                    count <= 64'd0;
                    phase <= PH_SETUP;
                end else count <= count + 64'd1;
            end
            PH_SETUP: begin
                if (count < n_set) begin
                    setup <= set_mem[count[31:0]];
                    count <= count + 64'd1;
                end else begin
                    setup <= {SET_W{1'b0}};
                    count <= 64'd0;
                    phase <= PH_GAP;
                end
            end
            PH_GAP: begin
                if (count == 64'd1) begin
                    phase <= PH_STREAM;
                    stream_start <= cycle + 64'd1;
                    out_ready <= 1'b1;
                end
                count <= count + 64'd1;
            end
            default: ;
        endcase

        if (phase == PH_STREAM || phase == PH_TAIL) begin
            // ---- input driver
            if (in_fire && first_in == 64'hFFFFFFFFFFFFFFFF) first_in <= cycle;
            if (in_valid && !in_ready) in_wait_cycles <= in_wait_cycles + 64'd1;
            in_idx <= in_next;
            if (in_valid && !in_fire) begin
                // hold the beat until it is taken
            end else if (in_next < n_in && !in_pat[pat_i]) begin
                in_valid <= 1'b1;
                in_payload <= in_mem[in_next[31:0]];
            end else begin
                in_valid <= 1'b0;
                if (in_next < n_in) in_idle_cycles <= in_idle_cycles + 64'd1;
            end
            // ---- output monitor
            if (held && (!out_valid || out_payload != held_payload)) begin
                rule_errors <= rule_errors + 64'd1;
                if (first_rule_error == 64'hFFFFFFFFFFFFFFFF) first_rule_error <= cycle;
            end
            held <= out_valid & ~out_ready;
            held_payload <= out_payload;
            if (out_valid && !out_ready) out_stall_cycles <= out_stall_cycles + 64'd1;
            if (out_fire) begin
                if (got < OUT_DEPTH) out_mem[got[31:0]] <= out_payload;
                if (first_out == 64'hFFFFFFFFFFFFFFFF) first_out <= cycle;
                last_out <= cycle;
            end
            got <= got_next;
            out_ready <= (got_next >= n_out) ? 1'b1 : !out_pat[pat_i];
            pat_i <= pat_i + 1'b1;
            // ---- phase
            if (phase == PH_STREAM && in_next >= n_in && got_next >= n_out) begin
                phase <= PH_TAIL;
                count <= 64'd0;
            end
            if (phase == PH_TAIL) begin
                if (count + 64'd1 >= TAIL) phase <= PH_DONE;
                count <= count + 64'd1;
            end
        end

        if (phase == PH_DONE || cycle + 64'd1 >= max_cycles)
            finish_run(phase != PH_DONE);
    end

    task finish_run(input is_timeout);
        begin
`ifndef VERILATOR
            if (got > 0) $writememh("out.hex", out_mem, 0, (got > OUT_DEPTH ? OUT_DEPTH : got) - 1);
`endif
            fd = $fopen("status.txt", "w");
            $fwrite(fd, "cycles %0d\n", cycle + 64'd1);
            $fwrite(fd, "timeout %0d\n", is_timeout);
            $fwrite(fd, "stream_start %0d\n", stream_start);
            $fwrite(fd, "beats_in %0d\n", in_idx);
            $fwrite(fd, "beats_out %0d\n", got);
            $fwrite(fd, "first_in %0d\n", first_in);
            $fwrite(fd, "first_out %0d\n", first_out);
            $fwrite(fd, "last_out %0d\n", last_out);
            $fwrite(fd, "in_idle_cycles %0d\n", in_idle_cycles);
            $fwrite(fd, "in_wait_cycles %0d\n", in_wait_cycles);
            $fwrite(fd, "out_stall_cycles %0d\n", out_stall_cycles);
            $fwrite(fd, "rule_errors %0d\n", rule_errors);
            $fwrite(fd, "first_rule_error %0d\n", first_rule_error);
            $fwrite(fd, "status %h\n", status);
            $fwrite(fd, "end 1\n");
            $fclose(fd);
            $finish;
        end
    endtask
endmodule

`ifndef VERILATOR
// Icarus: the clock comes from here (Verilator's C++ main, bulk_main.cpp, toggles clk itself).
module ivita_bulk_top;
    parameter IN_W = 8, OUT_W = 8, SET_W = 1, STAT_W = 1, IN_DEPTH = 16, OUT_DEPTH = 16,
              SET_DEPTH = 1, PAT_BITS = 16, TAIL = 16;
    reg clk = 1'b0;
    always #5 clk = ~clk;
    ivita_bulk_tb #(.IN_W(IN_W), .OUT_W(OUT_W), .SET_W(SET_W), .STAT_W(STAT_W),
                    .IN_DEPTH(IN_DEPTH), .OUT_DEPTH(OUT_DEPTH), .SET_DEPTH(SET_DEPTH),
                    .PAT_BITS(PAT_BITS), .TAIL(TAIL)) tb (.clk(clk));
endmodule
`endif
