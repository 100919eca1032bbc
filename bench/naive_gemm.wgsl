// Bench-only baseline: the naive batched GEMM, one output element per invocation,
// no register tile, no workgroup memory. Same descriptor table as
// shaders/batched_gemm.wgsl (only m, n, k and the strides are read; no epilogue):
// bench/node.ts prepends the Gemm struct from its declaration (GEMM_DESCRIPTOR).


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
