// Backward of the mixtures with respect to the expert outputs: for every
// expert z, summed over the gates that mix it,
//   dE[r, o] = sum_{(gate, j) mixing z} w_gate[r, j] * dG_gate[r, o]
// Each expert's (gate-weight column, dG offset) pairs are listed in `members`.
// Each invocation computes O_TILE adjacent outputs of one row.

// The constants WG, O_TILE and outputTile(): mixture_common.wgsl.

struct ExpertGrad {
  rows: u32, d: u32, memberStart: u32, memberCount: u32,
  wOff: u32, wRow: u32, dgRow: u32, dzOff: u32,
  dzRow: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<ExpertGrad>;
@group(0) @binding(1) var<storage, read> members: array<vec2u>;
@group(0) @binding(2) var<storage, read_write> gateW: array<f32>;
@group(0) @binding(3) var<storage, read_write> dG: array<f32>;
@group(0) @binding(4) var<storage, read_write> dZ: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = descs[wg.z];
  let at = outputTile((wg.y * nwg.x + wg.x) * WG + lid.x, d.rows, d.d);
  if (at.x >= d.rows) {
    return;
  }
  let r = at.x;
  let o0 = at.y;
  var acc: array<f32, O_TILE>;
  for (var p = 0u; p < d.memberCount; p++) {
    let m = members[d.memberStart + p];
    let w = gateW[d.wOff + r * d.wRow + m.x];
    let g = m.y + r * d.dgRow;
    for (var t = 0u; t < O_TILE; t++) { // @unroll
      acc[t] = fma(w, dG[g + min(o0 + t, d.d - 1u)], acc[t]);
    }
  }
  for (var t = 0u; t < O_TILE; t++) { // @unroll
    if (o0 + t < d.d) {
      dZ[d.dzOff + r * d.dzRow + o0 + t] = acc[t];
    }
  }
}
