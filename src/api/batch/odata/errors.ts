/** A query parameter the Batch service would refuse; callers render it as a 400 with QueryParameter* values. */
export class QueryError extends Error {
  readonly parameter: string;
  readonly reason: string;
  readonly kind: 'invalid' | 'out-of-range';
  constructor(parameter: string, reason: string, kind: 'invalid' | 'out-of-range' = 'invalid') {
    super(reason);
    this.parameter = parameter;
    this.reason = reason;
    this.kind = kind;
  }
}
