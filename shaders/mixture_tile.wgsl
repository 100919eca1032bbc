// The forward mixture's outputs o0 .. o0+O_TILE-1 of row r,
//   out[r, o] = sum_j w[r, j] * E_{member(j)}[r, o],
// shared by mixture.wgsl and gate_mixture.wgsl, which prepend it (after mixture_common.wgsl)
// and declare the bindings gateW, Z and outM.
fn mixTile(d: Mixture, r: u32, o0: u32) {
  // Every element is assigned: a var declared in a loop body was seen to keep the previous
  // iteration's values on SwiftShader instead of starting from zero (this runs in a loop in gate_mixture).
  var acc: array<f32, O_TILE>;
  for (var t = 0u; t < O_TILE; t++) { // @unroll
    acc[t] = 0.0;
  }
  for (var j = 0u; j < d.n; j++) {
    let w = gateW[d.wOff + r * d.wRow + j];
    let z = d.zOff + r * d.zRow + member(d, j) * d.d;
    for (var t = 0u; t < O_TILE; t++) { // @unroll
      acc[t] = fma(w, Z[z + min(o0 + t, d.d - 1u)], acc[t]);
    }
  }
  for (var t = 0u; t < O_TILE; t++) { // @unroll
    if (o0 + t < d.d) {
      outM[d.outOff + r * d.outRow + o0 + t] = acc[t];
    }
  }
}
