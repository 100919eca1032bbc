// Backward of a layer's bias and activation, for a batch of [rows x cols] blocks.
//
// For every descriptor z and column c:
//   dZ[r, c] = dY[r, c] * act'(Y[r, c])   (written over dY; act is ReLU or identity)
//   db[c]    = sum_r dZ[r, c]             (when FLAG_BIAS)
// dZ is what the weight- and input-gradient GEMMs then read.

const WG: u32 = 64u;

const FLAG_RELU: u32 = 1u;
const FLAG_BIAS: u32 = 2u;

struct BiasAct {
  rows: u32, cols: u32, flags: u32, dyOff: u32,
  dyRow: u32, yOff: u32, yRow: u32, dbOff: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<BiasAct>;
@group(0) @binding(1) var<storage, read_write> dY: array<f32>;
@group(0) @binding(2) var<storage, read_write> Y: array<f32>;
@group(0) @binding(3) var<storage, read_write> db: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  let d = descs[wg.z];
  let c = wg.x * WG + lid.x;
  if (c >= d.cols) {
    return;
  }
  let relu = (d.flags & FLAG_RELU) != 0u;
  var sum = 0.0;
  for (var r = 0u; r < d.rows; r++) {
    let at = d.dyOff + r * d.dyRow + c;
    var g = dY[at];
    if (relu) {
      g = select(0.0, g, Y[d.yOff + r * d.yRow + c] > 0.0);
      dY[at] = g;
    }
    sum += g;
  }
  if ((d.flags & FLAG_BIAS) != 0u) {
    db[d.dbOff + c] = sum;
  }
}
