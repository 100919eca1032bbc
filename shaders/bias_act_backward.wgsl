// Backward of a layer's bias and activation, for a batch of [rows x cols] blocks.
//
// For every descriptor z and column c:
//   dZ[r, c] = dY[r, c] * act'(Y[r, c])   (written over dY; act is ReLU or identity)
//   db[c]    = sum_r dZ[r, c]             (when FLAG_BIAS)
// dZ is what the weight- and input-gradient GEMMs then read.
// Each invocation walks VEC adjacent columns down the rows as one value of type Cols: f32, or
// vec4f where every offset, row stride and width is a multiple of 4 (the host sets both:
// src/kernels/bias_act_backward.ts). Offsets and strides are in floats.

const WG: u32 = 64u;
const VEC: u32 = 1u;
alias Cols = f32;

const FLAG_RELU: u32 = 1u;
const FLAG_BIAS: u32 = 2u;

struct BiasAct {
  rows: u32, cols: u32, flags: u32, dyOff: u32,
  dyRow: u32, yOff: u32, yRow: u32, dbOff: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<BiasAct>;
@group(0) @binding(1) var<storage, read_write> dY: array<Cols>;
@group(0) @binding(2) var<storage, read_write> Y: array<Cols>;
@group(0) @binding(3) var<storage, read_write> db: array<Cols>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let d = descs[wg.z];
  let c = (wg.x * WG + lid.x) * VEC;
  if (c >= d.cols) {
    return;
  }
  let relu = (d.flags & FLAG_RELU) != 0u;
  var sum = Cols(0.0);
  // Indices into the arrays of Cols, stepping a row at a time.
  var at = (d.dyOff + c) / VEC;
  var yAt = (d.yOff + c) / VEC;
  let dyStep = d.dyRow / VEC;
  let yStep = d.yRow / VEC;
  for (var r = 0u; r < d.rows; r++) {
    var g = dY[at];
    if (relu) {
      g = select(Cols(0.0), g, Y[yAt] > Cols(0.0));
      dY[at] = g;
    }
    sum += g;
    at += dyStep;
    yAt += yStep;
  }
  if ((d.flags & FLAG_BIAS) != 0u) {
    db[(d.dbOff + c) / VEC] = sum;
  }
}
