// Bench-only baseline: the naive batched GEMM, one output element per invocation,
// no register tile, no workgroup memory. Same descriptor table as
// shaders/batched_gemm.wgsl (only m, n, k and the strides are read; no epilogue).

struct Gemm {
  m: u32, n: u32, k: u32, flags: u32,
  aOff: u32, aRow: u32, aCol: u32, bOff: u32,
  bRow: u32, bCol: u32, cOff: u32, cRow: u32,
  biasOff: u32, pad0: u32, pad1: u32, pad2: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<Gemm>;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(global_invocation_id) gid: vec3u) {
  let d = descs[gid.z];
  let row = gid.y;
  let col = gid.x;
  if (row >= d.m || col >= d.n) {
    return;
  }
  var s = 0.0;
  for (var kk = 0u; kk < d.k; kk++) {
    s = fma(A[d.aOff + row * d.aRow + kk * d.aCol], B[d.bOff + kk * d.bRow + col * d.bCol], s);
  }
  C[d.cOff + row * d.cRow + col] = s;
}
