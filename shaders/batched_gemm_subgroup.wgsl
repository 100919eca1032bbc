// The subgroup variant of batched_gemm.wgsl's register-tiled `main`: the host prepends this file
// to that one (descriptors, bindings, constants and epilogue live there) and runs `main_subgroup`.
//
// With one row of invocations per workgroup (WG_Y = 1) every invocation accumulates the same rows
// of C, so in `main` each lane of a subgroup loads the same A values as its neighbours (a CPU
// driver gathers them once per lane). Here the lanes split those loads: for each block of SG
// consecutive k, lane l loads A[row, kk + l] and every lane takes column kk + q from lane q with
// subgroupBroadcast, one load per SG lanes. SG must be the device's subgroup size and divide
// WG_X, so that every subgroup is full; the host checks both.
enable subgroups;

const SG: u32 = 4u;

@compute @workgroup_size(WG_X, WG_Y, 1)
fn main_subgroup(@builtin(workgroup_id) wg: vec3u, @builtin(local_invocation_id) lid: vec3u, @builtin(subgroup_invocation_id) lane: u32) {
  let d = descs[wg.z];
  let row0 = wg.y * TILE_M;
  let col0 = wg.x * (WG_X * TILE_N) + lid.x * VEC_N;
  // No early return: every lane takes part in the broadcasts. Out-of-range rows and columns are
  // clamped for loading and skipped when storing.
  var aBase: array<u32, TILE_M>;
  var bBase: array<u32, TILE_N>;
  for (var i = 0u; i < TILE_M; i++) { // @unroll
    aBase[i] = d.aOff + min(row0 + i, d.m - 1u) * d.aRow;
  }
  for (var j = 0u; j < TILE_N; j++) { // @unroll
    bBase[j] = d.bOff + min(column(col0, j), d.n - 1u) * d.bCol;
  }
  var acc: array<array<f32, TILE_N>, TILE_M>;
  // Blocks of SG columns of A; in the last, lanes past k load 0 and B's row is clamped to the last.
  for (var kk = 0u; kk < d.k; kk += SG) {
    var own: array<f32, TILE_M>;
    let kLane = kk + lane;
    for (var i = 0u; i < TILE_M; i++) { // @unroll
      own[i] = select(0.0, A[aBase[i] + min(kLane, d.k - 1u) * d.aCol], kLane < d.k);
    }
    for (var q = 0u; q < SG; q++) { // @unroll
      var a: array<f32, TILE_M>;
      for (var i = 0u; i < TILE_M; i++) { // @unroll
        a[i] = subgroupBroadcast(own[i], q);
      }
      let bk = min(kk + q, d.k - 1u) * d.bRow;
      for (var j = 0u; j < TILE_N; j++) { // @unroll
        let b = B[bBase[j] + bk];
        for (var i = 0u; i < TILE_M; i++) { // @unroll
          acc[i][j] = fma(a[i], b, acc[i][j]);
        }
      }
    }
  }
  for (var i = 0u; i < TILE_M; i++) { // @unroll
    for (var j = 0u; j < TILE_N; j++) { // @unroll
      store(d, row0 + i, column(col0, j), acc[i][j]);
    }
  }
}
