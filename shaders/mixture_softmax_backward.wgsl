// Backward of the mixture with respect to the gate weights, fused with the
// softmax backward: for every gate z and sample r,
//   dw_j      = sum_o dG[r, o] * E_{member(j)}[r, o]
//   dlogit_j  = w_j * (dw_j - sum_i w_i dw_i)
// Same descriptor fields as mixture.wgsl, plus where dG and dlogit live.

const WG: u32 = 64u;

struct MixtureBackward {
  rows: u32, d: u32, n: u32, ownStart: u32,
  ownCount: u32, sharedStart: u32, wOff: u32, wRow: u32,
  zOff: u32, zRow: u32, dgOff: u32, dgRow: u32,
  dlOff: u32, dlRow: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<MixtureBackward>;
@group(0) @binding(1) var<storage, read_write> gateW: array<f32>;
@group(0) @binding(2) var<storage, read_write> Z: array<f32>;
@group(0) @binding(3) var<storage, read_write> dG: array<f32>;
@group(0) @binding(4) var<storage, read_write> dLogit: array<f32>;

fn member(d: MixtureBackward, j: u32) -> u32 {
  return select(d.sharedStart + j - d.ownCount, d.ownStart + j, j < d.ownCount);
}

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
