/** CPU reference of shaders/grad_norm.wgsl, in float64. */
export function gradNormReference(grads: ArrayLike<number>, maxNorm: number): { scale: number; norm: number } {
  let s = 0;
  for (let i = 0; i < grads.length; i++) s += grads[i] * grads[i];
  const norm = Math.sqrt(s);
  return { scale: maxNorm > 0 && norm > maxNorm ? maxNorm / norm : 1, norm };
}
