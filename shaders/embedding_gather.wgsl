// Embedding lookup: for every table z, row r of the batch and component j,
//   x[r, column_z + j] = table_z[index[r, z], j]
// writing the embedding vectors into the model's input rows after the dense part.
// Indices are stored as u32 bit patterns in the f32 input buffer.

const WG: u32 = 64u;

struct Gather {
  rows: u32, dim: u32, vocabulary: u32, idxOff: u32,
  idxRow: u32, tableOff: u32, xOff: u32, xRow: u32,
}

@group(0) @binding(0) var<storage, read> descs: array<Gather>;
@group(0) @binding(1) var<storage, read_write> indices: array<f32>;
@group(0) @binding(2) var<storage, read_write> tables: array<f32>;
@group(0) @binding(3) var<storage, read_write> x: array<f32>;

@compute @workgroup_size(WG, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let d = descs[wg.z];
  let i = (wg.y * nwg.x + wg.x) * WG + lid.x;
  if (i >= d.rows * d.dim) {
    return;
  }
  let r = i / d.dim;
  let j = i % d.dim;
  // The host validates indices; the clamp keeps a bad one inside the table regardless.
  let row = min(bitcast<u32>(indices[d.idxOff + r * d.idxRow]), d.vocabulary - 1u);
  x[d.xOff + r * d.xRow + j] = tables[d.tableOff + row * d.dim + j];
}
