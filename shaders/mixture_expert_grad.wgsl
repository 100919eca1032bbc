// Backward of the mixtures with respect to the expert outputs: for every
// expert z, summed over the gates that mix it,
//   dE[r, o] = sum_{(gate, j) mixing z} w_gate[r, j] * dG_gate[r, o]
// A descriptor covers `experts` (at most EXPERTS) experts that the same gates mix, in adjacent
// gate-weight columns, their gradients dzStep apart: the i-th expert's weight is in column
// m.x + i, so each dG value loaded serves all of them. Each one's (first gate-weight column, dG
// offset) pairs are listed in `members`. Each invocation computes O_TILE adjacent outputs of
// one row for each of the descriptor's experts.

// The constants WG, O_TILE and outputTile(): mixture_common.wgsl.

// Experts per descriptor at most (the host sets it: src/kernels/mixture.ts).
const EXPERTS: u32 = 1u;

struct ExpertGrad {
  rows: u32, d: u32, memberStart: u32, memberCount: u32,
  wOff: u32, wRow: u32, dgRow: u32, dzOff: u32,
  dzRow: u32, experts: u32, dzStep: u32, pad0: u32,
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
  var acc: array<array<f32, O_TILE>, EXPERTS>;
  for (var p = 0u; p < d.memberCount; p++) {
    let m = members[d.memberStart + p];
    // Experts past the descriptor's last repeat it; their sums are not written.
    var w: array<f32, EXPERTS>;
    for (var i = 0u; i < EXPERTS; i++) { // @unroll
      w[i] = gateW[d.wOff + r * d.wRow + m.x + min(i, d.experts - 1u)];
    }
    let g = m.y + r * d.dgRow;
    for (var t = 0u; t < O_TILE; t++) { // @unroll
      let v = dG[g + min(o0 + t, d.d - 1u)];
      for (var i = 0u; i < EXPERTS; i++) { // @unroll
        acc[i][t] = fma(w[i], v, acc[i][t]);
      }
    }
  }
  for (var i = 0u; i < EXPERTS; i++) { // @unroll
    if (i < d.experts) {
      for (var t = 0u; t < O_TILE; t++) { // @unroll
        if (o0 + t < d.d) {
          dZ[d.dzOff + i * d.dzStep + r * d.dzRow + o0 + t] = acc[i][t];
        }
      }
    }
  }
}
