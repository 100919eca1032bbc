// Batched strided GEMM with a bias + activation epilogue, in two variants: `main` (register
// tiles) and `main_shared` (workgroup-memory tiles), sharing descriptors, bindings and epilogue.
//
// For every descriptor z (the workgroup grid's z dimension):
//   C[z] = act(A[z] * B[z] + bias[z] (+ C[z] when accumulating))
// Element (i, j) of A[z] is A[aOff + i*aRow + j*aCol]; B likewise; C is row-major
// with row stride cRow. Transposes are expressed as strides, so the one kernel
// computes a layer's forward product (X W), its input gradient (dZ W^T) and its
// weight gradient (X^T dZ), for all experts of a level in one dispatch.
//
// Register tiling without workgroup memory: each invocation accumulates a
// TILE_M x TILE_N block whose rows are WG_Y apart and whose columns come in runs
// of VEC_N adjacent columns (the vector width), runs WG_X * VEC_N apart, so
// neighbouring invocations touch neighbouring runs. VEC_N = 1 suits GPUs (each
// load coalesces across invocations); wider runs let a CPU driver load and
// multiply adjacent columns as one vector. The host specialises
// the four constants below per adapter and unrolls the loops marked @unroll
// (src/gpu/specialize.ts), so the register tile is indexed by constants.

const TILE_M: u32 = 4u;
const TILE_N: u32 = 4u;
const VEC_N: u32 = 1u;
const WG_X: u32 = 8u;
const WG_Y: u32 = 8u;

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

/** The epilogue: C[row, col] = act(acc + bias (+ C)), for an element inside the matrix. */
fn store(d: Gemm, row: u32, col: u32, acc: f32) {
  if (row >= d.m || col >= d.n) {
    return;
  }
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

/** The column of the invocation's j-th accumulator: run j / VEC_N, position j % VEC_N in it. */
fn column(col0: u32, j: u32) -> u32 {
  return col0 + (j / VEC_N) * (WG_X * VEC_N) + j % VEC_N;
}

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let d = descs[wg.z];
  let row0 = wg.y * (WG_Y * TILE_M) + lid.y;
  let col0 = wg.x * (WG_X * TILE_N) + lid.x * VEC_N;
  if (row0 >= d.m || col0 >= d.n) {
    return;
  }
  // Out-of-range rows and columns are clamped for loading and skipped when storing.
  var aBase: array<u32, TILE_M>;
  var bBase: array<u32, TILE_N>;
  for (var i = 0u; i < TILE_M; i++) { // @unroll
    aBase[i] = d.aOff + min(row0 + i * WG_Y, d.m - 1u) * d.aRow;
  }
  for (var j = 0u; j < TILE_N; j++) { // @unroll
    bBase[j] = d.bOff + min(column(col0, j), d.n - 1u) * d.bCol;
  }
  var acc: array<array<f32, TILE_N>, TILE_M>;
  for (var kk = 0u; kk < d.k; kk++) {
    var a: array<f32, TILE_M>;
    for (var i = 0u; i < TILE_M; i++) { // @unroll
      a[i] = A[aBase[i] + kk * d.aCol];
    }
    for (var j = 0u; j < TILE_N; j++) { // @unroll
      let b = B[bBase[j] + kk * d.bRow];
      for (var i = 0u; i < TILE_M; i++) { // @unroll
        acc[i][j] = fma(a[i], b, acc[i][j]);
      }
    }
  }
  for (var i = 0u; i < TILE_M; i++) { // @unroll
    for (var j = 0u; j < TILE_N; j++) { // @unroll
      store(d, row0 + i * WG_Y, column(col0, j), acc[i][j]);
    }
  }
}

// The variant staged through workgroup memory, which GPUs tend to prefer (SwiftShader does not:
// its barriers are costly). A WG_X x WG_X workgroup computes a WG_X x WG_X block of C, one output
// per invocation, loading WG_X-wide slices of A and B cooperatively. The host sets WG_Y = WG_X
// and 1x1 tiles for it.
var<workgroup> tileA: array<f32, WG_X * WG_X>;
var<workgroup> tileB: array<f32, WG_X * WG_X>;

@compute @workgroup_size(WG_X, WG_X, 1)
fn main_shared(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let d = descs[wg.z];
  let row = wg.y * WG_X + lid.y;
  let col = wg.x * WG_X + lid.x;
  // No early return: every invocation of the workgroup must reach every barrier.
  let aRow = d.aOff + min(row, d.m - 1u) * d.aRow;
  let bCol = d.bOff + min(col, d.n - 1u) * d.bCol;
  var acc = 0.0;
  let steps = (d.k + WG_X - 1u) / WG_X;
  for (var s = 0u; s < steps; s++) {
    let ka = s * WG_X + lid.x;
    let kb = s * WG_X + lid.y;
    tileA[lid.y * WG_X + lid.x] = select(0.0, A[aRow + min(ka, d.k - 1u) * d.aCol], ka < d.k);
    tileB[lid.y * WG_X + lid.x] = select(0.0, B[bCol + min(kb, d.k - 1u) * d.bRow], kb < d.k);
    workgroupBarrier();
    for (var kk = 0u; kk < WG_X; kk++) {
      acc = fma(tileA[lid.y * WG_X + kk], tileB[kk * WG_X + lid.x], acc);
    }
    workgroupBarrier();
  }
  store(d, row, col, acc);
}
