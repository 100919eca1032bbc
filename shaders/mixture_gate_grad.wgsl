// Backward of the mixture with respect to the gate weights, fused with the
// softmax backward: for every gate z and sample r,
//   dw_j      = sum_o dG[r, o] * E_{member(j)}[r, o]
//   dlogit_j  = w_j * (dw_j - sum_i w_i dw_i)

// Mixture, member() and the constant WG: mixture_common.wgsl.

@group(0) @binding(0) var<storage, read> descs: array<Mixture>;
@group(0) @binding(1) var<storage, read_write> gateW: array<f32>;
@group(0) @binding(2) var<storage, read_write> Z: array<f32>;
@group(0) @binding(3) var<storage, read_write> dG: array<f32>;
@group(0) @binding(4) var<storage, read_write> dLogit: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = descs[wg.z];
  let r = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (r >= d.rows) {
    return;
  }
  let g = d.dgOff + r * d.dgRow;
  let l = d.dlOff + r * d.dlRow;
  let w = d.wOff + r * d.wRow;
  var s = 0.0;
  for (var j = 0u; j < d.n; j++) {
    let z = d.zOff + r * d.zRow + member(d, j) * d.d;
    var dw = 0.0;
    for (var o = 0u; o < d.d; o++) {
      dw = fma(dG[g + o], Z[z + o], dw);
    }
    dLogit[l + j] = dw;
    s = fma(gateW[w + j], dw, s);
  }
  for (var j = 0u; j < d.n; j++) {
    dLogit[l + j] = gateW[w + j] * (dLogit[l + j] - s);
  }
}
