// Gate logits fused with the softmax: for every gate z and sample r,
//   w[r, :] = softmax(X[r, :] W (+ b))
// W is [k x n] row-major. A gate without weights (over a single expert) writes 1.
// One invocation per sample; the logits are staged in the output row, computed
// N_TILE at a time so each input value is read once per N_TILE logits.

const WG: u32 = 64u;
const N_TILE: u32 = 4u;

const FLAG_WEIGHTS: u32 = 1u;
const FLAG_BIAS: u32 = 2u;

struct Gate {
  rows: u32, n: u32, k: u32, flags: u32,
  xOff: u32, xRow: u32, wOff: u32, bOff: u32,
  outOff: u32, outRow: u32, pad0: u32, pad1: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<Gate>;
@group(0) @binding(1) var<storage, read_write> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> W: array<f32>;
@group(0) @binding(3) var<storage, read_write> outW: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = descs[wg.z];
  let r = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (r >= d.rows) {
    return;
  }
  let o = d.outOff + r * d.outRow;
  let x = d.xOff + r * d.xRow;
  for (var j0 = 0u; j0 < d.n; j0 += N_TILE) {
    // Every element is assigned here: a var declared in a loop body was seen to keep the previous
    // iteration's values on SwiftShader instead of starting from zero.
    var acc: array<f32, N_TILE>;
    for (var t = 0u; t < N_TILE; t++) { // @unroll
      acc[t] = select(0.0, W[d.bOff + min(j0 + t, d.n - 1u)], (d.flags & FLAG_BIAS) != 0u);
    }
    if ((d.flags & FLAG_WEIGHTS) != 0u) {
      for (var a = 0u; a < d.k; a++) {
        let xa = X[x + a];
        let row = d.wOff + a * d.n;
        for (var t = 0u; t < N_TILE; t++) { // @unroll
          acc[t] = fma(xa, W[row + min(j0 + t, d.n - 1u)], acc[t]);
        }
      }
    }
    for (var t = 0u; t < N_TILE; t++) { // @unroll
      if (j0 + t < d.n) {
        outW[o + j0 + t] = acc[t];
      }
    }
  }
  var mx = -3.0e38;
  for (var j = 0u; j < d.n; j++) {
    mx = max(mx, outW[o + j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < d.n; j++) {
    let e = exp(outW[o + j] - mx);
    outW[o + j] = e;
    sum += e;
  }
  for (var j = 0u; j < d.n; j++) {
    outW[o + j] = outW[o + j] / sum;
  }
}
