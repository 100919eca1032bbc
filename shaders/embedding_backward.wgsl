// Embedding backward: the gradient of each table row looked up in the batch,
// summed over the samples that looked it up and over every group's gradient of
// the input row (level 1's groups each read the input):
//   dTable_z[u, j] = sum_{samples b of u} sum_g dx_g[b, column_z + j]
// The host lists, per table, the batch's distinct rows and their samples (CSR):
//   csr[0] = count, csr[1 ..] = rows, then count + 1 starts, then the samples,
// stored as u32 bit patterns. Rows not in the batch keep the zero the step cleared.

const WG: u32 = 64u;

struct Scatter {
  capacity: u32, dim: u32, csrOff: u32, dxOff: u32,
  dxRow: u32, groups: u32, groupStride: u32, gradOff: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<Scatter>;
@group(0) @binding(1) var<storage, read_write> csr: array<f32>;
@group(0) @binding(2) var<storage, read_write> dx: array<f32>;
@group(0) @binding(3) var<storage, read_write> grad: array<f32>;

fn word(at: u32) -> u32 {
  return bitcast<u32>(csr[at]);
}

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = descs[wg.z];
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  let u = i / d.dim;
  let j = i % d.dim;
  let count = word(d.csrOff);
  if (u >= count) {
    return;
  }
  let rowsAt = d.csrOff + 1u;
  let startsAt = rowsAt + d.capacity;
  let samplesAt = startsAt + d.capacity + 1u;
  var s = 0.0;
  for (var p = word(startsAt + u); p < word(startsAt + u + 1u); p++) {
    let b = word(samplesAt + p);
    for (var g = 0u; g < d.groups; g++) {
      s += dx[d.dxOff + g * d.groupStride + b * d.dxRow + j];
    }
  }
  grad[d.gradOff + word(rowsAt + u) * d.dim + j] = s;
}
