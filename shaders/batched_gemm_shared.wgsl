// Batched strided GEMM staged through workgroup memory: the variant GPUs tend to
// prefer (SwiftShader does not: its barriers are costly). Same descriptors,
// bindings and epilogue as batched_gemm.wgsl, which it can replace per dispatch:
//   C[z] = act(A[z] * B[z] + bias[z] (+ C[z] when accumulating))
// A WG x WG workgroup computes a WG x WG block of C, one output per invocation,
// loading WG-wide slices of A and B into workgroup memory cooperatively.

const WG: u32 = 16u;

const FLAG_RELU: u32 = 1u;
const FLAG_ACCUMULATE: u32 = 2u;
const FLAG_BIAS: u32 = 4u;

struct Gemm {
  m: u32, n: u32, k: u32, flags: u32,
  aOff: u32, aRow: u32, aCol: u32, bOff: u32,
  bRow: u32, bCol: u32, cOff: u32, cRow: u32,
  biasOff: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<Gemm>;
@group(0) @binding(1) var<storage, read_write> A: array<f32>;
@group(0) @binding(2) var<storage, read_write> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;
@group(0) @binding(4) var<storage, read_write> bias: array<f32>;

var<workgroup> tileA: array<f32, WG * WG>;
var<workgroup> tileB: array<f32, WG * WG>;

@compute @workgroup_size(WG, WG, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let d = descs[wg.z];
  let row = wg.y * WG + lid.y;
  let col = wg.x * WG + lid.x;
  // No early return: every invocation of the workgroup must reach every barrier.
  let aRow = d.aOff + min(row, d.m - 1u) * d.aRow;
  let bCol = d.bOff + min(col, d.n - 1u) * d.bCol;
  var acc = 0.0;
  let steps = (d.k + WG - 1u) / WG;
  for (var s = 0u; s < steps; s++) {
    let ka = s * WG + lid.x;
    let kb = s * WG + lid.y;
    tileA[lid.y * WG + lid.x] = select(0.0, A[aRow + min(ka, d.k - 1u) * d.aCol], ka < d.k);
    tileB[lid.y * WG + lid.x] = select(0.0, B[bCol + min(kb, d.k - 1u) * d.bRow], kb < d.k);
    workgroupBarrier();
    for (var kk = 0u; kk < WG; kk++) {
      acc = fma(tileA[lid.y * WG + kk], tileB[kk * WG + lid.x], acc);
    }
    workgroupBarrier();
  }
  if (row < d.m && col < d.n) {
    let at = d.cOff + row * d.cRow + col;
    var v = acc;
    if ((d.flags & FLAG_BIAS) != 0u) {
      v += bias[d.biasOff + col];
    }
    if ((d.flags & FLAG_ACCUMULATE) != 0u) {
      v += C[at];
    }
    if ((d.flags & FLAG_RELU) != 0u) {
      v = max(v, 0.0);
    }
    C[at] = v;
  }
}
