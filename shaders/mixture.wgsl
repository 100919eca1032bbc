// The weighted-sum mixture of expert outputs by gate weights: for every gate z,
//   out[r, o] = sum_j w[r, j] * E_{member(j)}[r, o]
// Expert outputs sit side by side in Z ([rows x experts*d]); a gate's members
// are its own experts (ownCount from ownStart) followed by the shared experts
// (from sharedStart). Each invocation computes O_TILE adjacent outputs of one row,
// reading each gate weight once for them.

// Mixture, mixTile(), outputTile() and the constants WG, O_TILE: mixture_common.wgsl (mixTile: mixture_tile.wgsl).

@group(0) @binding(0) var<storage, read> descs: array<Mixture>;
@group(0) @binding(1) var<storage, read_write> gateW: array<f32>;
@group(0) @binding(2) var<storage, read_write> Z: array<f32>;
@group(0) @binding(3) var<storage, read_write> outM: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = descs[wg.z];
  let at = outputTile((wg.y * nwg.x + wg.x) * WG + lid.x, d.rows, d.d);
  if (at.x < d.rows) {
    mixTile(d, at.x, at.y);
  }
}
