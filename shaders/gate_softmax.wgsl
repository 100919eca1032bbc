// Gate logits fused with the softmax, one dispatch for a level's gates: every gate (the
// grid's z) and sample r gets w[r, :] = softmax(X[r, :] W (+ b)) (gate_softmax_common.wgsl).

// Gate, groupSamples, gateSoftmaxRows: gate_softmax_common.wgsl. Lanes, laneIndex, laneCount: lanes_*.wgsl.

const WG: u32 = 64u;

@group(0) @binding(0) var<storage, read> descs: array<Gate>;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> gateW: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, l: Lanes) {
  let d = descs[wg.z];
  let lanes = laneCount(l);
  let at = groupSamples(d, (wg.y * nwg.x + wg.x) * (WG / lanes) + l.index / lanes);
  gateSoftmaxRows(d, at.x, laneIndex(l), lanes, at.y);
}
