/** One batch of rows as the trainer and the float64 reference take it. Row-major throughout. */
export interface Batch {
  rows: number;
  /** rows x inputDim, row-major. */
  x: ArrayLike<number>;
  /** rows x tasks, row-major. A missing label may be NaN when its mask is 0. */
  labels: ArrayLike<number>;
  /** rows x tasks of 0/1 (PLE's sample-space indicator); all ones when absent. */
  mask?: ArrayLike<number>;
  /** rows x embedding tables: the table row each sample looks up (required when the model has embeddings). */
  categorical?: ArrayLike<number>;
}

/** A batch that does not fit the model or holds a value it cannot take; the message names the field, row and column. */
export class BatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BatchError';
  }
}
