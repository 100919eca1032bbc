// The gate softmax of a lane group's samples, shared by gate_softmax.wgsl and gate_mixture.wgsl (which
// prepend it; src/kernels/gate_softmax.ts): for gate d and sample r,
//   w[r, :] = softmax(X[r, :] W (+ b))
// W is [k x n] row-major. A gate without weights (over a single expert) writes 1.
// One lane group per ROWS samples (lanes_plain.wgsl / lanes_subgroup.wgsl: an invocation, or a
// subgroup whose lanes stride over the inputs and add their partial logits up). Logits are
// computed 4 at a time, so each input value is read once per 4 logits and each weight once per
// ROWS samples, and staged in the output row, where the group's first lane turns them into the
// softmax.
// The including kernel declares the bindings X, W and gateW.

// Lanes, laneIndex, laneCount, laneSum: lanes_plain.wgsl or lanes_subgroup.wgsl.

// Samples per lane group (the host sets it: src/kernels/gate_softmax.ts): each W entry loaded
// serves ROWS samples.
const ROWS: u32 = 1u;

const FLAG_WEIGHTS: u32 = 1u;
const FLAG_BIAS: u32 = 2u;

struct Gate {
  rows: u32, n: u32, k: u32, flags: u32,
  xOff: u32, xRow: u32, wOff: u32, bOff: u32,
  outOff: u32, outRow: u32, pad0: u32, pad1: u32,
}

// Four adjacent entries of a row of n, from j (indices past the row repeat its last entry).
fn four(at: u32, j: u32, n: u32) -> vec4f {
  return vec4f(W[at + min(j, n - 1u)], W[at + min(j + 1u, n - 1u)], W[at + min(j + 2u, n - 1u)], W[at + min(j + 3u, n - 1u)]);
}

// The samples of lane group `group` (counted across the grid): its first, clamped to the last
// sample, and how many of its ROWS are real samples (0 for a group past the last one, which
// recomputes the last sample and writes nothing: no early return, so laneSum stays uniform).
fn groupSamples(d: Gate, group: u32) -> vec2u {
  let first = group * ROWS;
  return vec2u(min(first, d.rows - 1u), select(0u, min(ROWS, d.rows - first), first < d.rows));
}

// The group of the lane `lane` of `lanes` computes the weights of samples first .. first+ROWS-1
// (those past the last sample repeat it); its first lane writes those of the first `live`.
// Call it from uniform control flow (laneSum).
fn gateSoftmaxRows(d: Gate, first: u32, lane: u32, lanes: u32, live: u32) {
  let writes = select(0u, live, lane == 0u);
  var x: array<u32, ROWS>;
  var o: array<u32, ROWS>;
  for (var i = 0u; i < ROWS; i++) { // @unroll
    let r = min(first + i, d.rows - 1u);
    x[i] = d.xOff + r * d.xRow;
    o[i] = d.outOff + r * d.outRow;
  }
  for (var j0 = 0u; j0 < d.n; j0 += 4u) {
    // Every element is assigned: see mixture_tile.wgsl on vars declared in a loop body.
    var acc: array<vec4f, ROWS>;
    for (var i = 0u; i < ROWS; i++) { // @unroll
      acc[i] = vec4f(0.0);
    }
    if ((d.flags & FLAG_WEIGHTS) != 0u) {
      for (var a = lane; a < d.k; a += lanes) {
        let w = four(d.wOff + a * d.n, j0, d.n);
        for (var i = 0u; i < ROWS; i++) { // @unroll
          acc[i] = fma(vec4f(X[x[i] + a]), w, acc[i]);
        }
      }
    }
    var b = vec4f(0.0);
    if ((d.flags & FLAG_BIAS) != 0u) {
      b = four(d.bOff, j0, d.n);
    }
    for (var i = 0u; i < ROWS; i++) { // @unroll
      acc[i] = laneSum(acc[i]) + b;
    }
    for (var i = 0u; i < ROWS; i++) { // @unroll
      if (i < writes) {
        for (var t = 0u; t < min(4u, d.n - j0); t++) {
          gateW[o[i] + j0 + t] = acc[i][t];
        }
      }
    }
  }
  for (var i = 0u; i < writes; i++) {
    softmaxInPlace(o[i], d.n);
  }
}

// gateW[at .. at+n-1] = softmax(gateW[at .. at+n-1]).
fn softmaxInPlace(at: u32, n: u32) {
  var mx = -3.0e38;
  for (var j = 0u; j < n; j++) {
    mx = max(mx, gateW[at + j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < n; j++) {
    let e = exp(gateW[at + j] - mx);
    gateW[at + j] = e;
    sum += e;
  }
  for (var j = 0u; j < n; j++) {
    gateW[at + j] = gateW[at + j] / sum;
  }
}
