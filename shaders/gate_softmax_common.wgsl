// The gate softmax of one sample, shared by gate_softmax.wgsl and gate_mixture.wgsl (which
// prepend it; src/kernels/gate_softmax.ts): for gate d and sample r,
//   w[r, :] = softmax(X[r, :] W (+ b))
// W is [k x n] row-major. A gate without weights (over a single expert) writes 1.
// One lane group per sample (lanes_plain.wgsl / lanes_subgroup.wgsl: an invocation, or a
// subgroup whose lanes stride over the inputs and add their partial logits up). Logits are
// computed 4 at a time, so each input value is read once per 4 logits, and staged in the
// output row, where the group's first lane turns them into the softmax.
// The including kernel declares the bindings X, W and gateW.

// Lanes, laneIndex, laneCount, laneSum: lanes_plain.wgsl or lanes_subgroup.wgsl.

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

// The group of the lane `lane` of `lanes` computes sample r's weights; the first lane of a
// group with `live` set writes them. Call it from uniform control flow (laneSum).
fn gateSoftmaxRow(d: Gate, r: u32, lane: u32, lanes: u32, live: bool) {
  let writer = live && lane == 0u;
  let o = d.outOff + r * d.outRow;
  let x = d.xOff + r * d.xRow;
  for (var j0 = 0u; j0 < d.n; j0 += 4u) {
    var acc = vec4f(0.0);
    if ((d.flags & FLAG_WEIGHTS) != 0u) {
      for (var a = lane; a < d.k; a += lanes) {
        acc = fma(vec4f(X[x + a]), four(d.wOff + a * d.n, j0, d.n), acc);
      }
    }
    acc = laneSum(acc);
    if ((d.flags & FLAG_BIAS) != 0u) {
      acc += four(d.bOff, j0, d.n);
    }
    if (writer) {
      for (var t = 0u; t < min(4u, d.n - j0); t++) {
        gateW[o + j0 + t] = acc[t];
      }
    }
  }
  if (!writer) {
    return;
  }
  var mx = -3.0e38;
  for (var j = 0u; j < d.n; j++) {
    mx = max(mx, gateW[o + j]);
  }
  var sum = 0.0;
  for (var j = 0u; j < d.n; j++) {
    let e = exp(gateW[o + j] - mx);
    gateW[o + j] = e;
    sum += e;
  }
  for (var j = 0u; j < d.n; j++) {
    gateW[o + j] = gateW[o + j] / sum;
  }
}
