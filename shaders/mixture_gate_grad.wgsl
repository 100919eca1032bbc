// Backward of the mixture with respect to the gate weights, fused with the
// softmax backward: for every gate z and sample r,
//   dw_j      = sum_o dG[r, o] * E_{member(j)}[r, o]
//   dlogit_j  = w_j * (dw_j - sum_i w_i dw_i)
// One lane group per sample (lanes_plain.wgsl / lanes_subgroup.wgsl: an invocation, or a
// subgroup whose lanes stride over o and add their partial dot products up). Four members'
// dot products at a time, so dG is read once per 4 members.

// Mixture, member() and the constant WG: mixture_common.wgsl.
// Lanes, laneIndex, laneCount, laneSum: lanes_plain.wgsl or lanes_subgroup.wgsl.

@group(0) @binding(0) var<storage, read> descs: array<Mixture>;
@group(0) @binding(1) var<storage, read_write> gateW: array<f32>;
@group(0) @binding(2) var<storage, read_write> Z: array<f32>;
@group(0) @binding(3) var<storage, read_write> dG: array<f32>;
@group(0) @binding(4) var<storage, read_write> dLogit: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, l: Lanes) {
  let d = descs[wg.z];
  let lane = laneIndex(l);
  let lanes = laneCount(l);
  // A group past the last sample recomputes the last one and writes nothing: no early return,
  // so laneSum stays in uniform control flow.
  let slot = (wg.y * nwg.x + wg.x) * (WG / lanes) + l.index / lanes;
  let r = min(slot, d.rows - 1u);
  let writer = slot < d.rows && lane == 0u;
  let g = d.dgOff + r * d.dgRow;
  let dl = d.dlOff + r * d.dlRow;
  let w = d.wOff + r * d.wRow;
  let z = d.zOff + r * d.zRow;
  var s = 0.0;
  for (var j0 = 0u; j0 < d.n; j0 += 4u) {
    // Members past the gate's last repeat it; their sums are not written.
    let last = d.n - 1u;
    let z0 = z + member(d, j0) * d.d;
    let z1 = z + member(d, min(j0 + 1u, last)) * d.d;
    let z2 = z + member(d, min(j0 + 2u, last)) * d.d;
    let z3 = z + member(d, min(j0 + 3u, last)) * d.d;
    var dw = vec4f(0.0);
    for (var o = lane; o < d.d; o += lanes) {
      dw = fma(vec4f(dG[g + o]), vec4f(Z[z0 + o], Z[z1 + o], Z[z2 + o], Z[z3 + o]), dw);
    }
    dw = laneSum(dw);
    if (writer) {
      for (var t = 0u; t < min(4u, d.n - j0); t++) {
        dLogit[dl + j0 + t] = dw[t];
        s = fma(gateW[w + j0 + t], dw[t], s);
      }
    }
  }
  if (!writer) {
    return;
  }
  for (var j = 0u; j < d.n; j++) {
    dLogit[dl + j] = gateW[w + j] * (dLogit[dl + j] - s);
  }
}
