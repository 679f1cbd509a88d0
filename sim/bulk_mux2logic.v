// Yosys techmap rule of the bulk bench's Verilator view (ivita.sim.bulk_view): a word-level
// 2-way multiplexer as AND/OR logic, Y = S ? B : A, which Verilator compiles without a branch.
(* techmap_celltype = "$mux" *)
module _ivita_mux2logic (A, B, S, Y);
    parameter WIDTH = 1;
    input [WIDTH-1:0] A, B;
    input S;
    output [WIDTH-1:0] Y;
    assign Y = (A & ~{WIDTH{S}}) | (B & {WIDTH{S}});
endmodule
