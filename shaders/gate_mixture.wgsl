// A level's gates and mixtures in one dispatch: gate_softmax.wgsl followed by mixture.wgsl.
// For every gate (the grid's z), each workgroup computes the gate weights of its samples
// (gateSoftmaxRows, one lane group per ROWS samples) and, once they are written, those samples'
// mixtures (mixTile, O_TILE outputs per invocation at a time):
//   w[r, :] = softmax(X[r, :] W (+ b)),   out[r, o] = sum_j w[r, j] * E_{member(j)}[r, o]

// Gate, groupSamples, gateSoftmaxRows: gate_softmax_common.wgsl. Mixture, the constants WG and O_TILE:
// mixture_common.wgsl. mixTile: mixture_tile.wgsl. Lanes, laneIndex, laneCount: lanes_*.wgsl.

@group(0) @binding(0) var<storage, read> descs: array<Gate>;
@group(0) @binding(1) var<storage, read> mixes: array<Mixture>;
@group(0) @binding(2) var<storage, read_write> X: array<f32>;
@group(0) @binding(3) var<storage, read_write> W: array<f32>;
@group(0) @binding(4) var<storage, read_write> gateW: array<f32>;
@group(0) @binding(5) var<storage, read_write> Z: array<f32>;
@group(0) @binding(6) var<storage, read_write> outM: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(num_workgroups) nwg: vec3u, l: Lanes) {
  let d = descs[wg.z];
  let m = mixes[wg.z];
  let lanes = laneCount(l);
  // Every group reaches the barrier: one past the last sample writes nothing (groupSamples).
  let at = groupSamples(d, (wg.y * nwg.x + wg.x) * (WG / lanes) + l.index / lanes);
  gateSoftmaxRows(d, at.x, laneIndex(l), lanes, at.y);
  // The workgroup's gate weights are in memory and visible to all its invocations.
  storageBarrier();
  for (var i = 0u; i < at.y; i++) {
    for (var o0 = laneIndex(l) * O_TILE; o0 < m.d; o0 += lanes * O_TILE) {
      mixTile(m, at.x + i, o0);
    }
  }
}
