/** The query parameters these helpers validate, spelled as they appear in the request URL. */
export type QueryParameter = '$filter' | '$select' | 'maxresults' | '$skiptoken';

/**
 * A query parameter the Batch service would refuse. Callers render it as a 400 with values
 * QueryParameterName=`parameter`, QueryParameterValue=<the raw text>, Reason=`reason`; the code is
 * `OutOfRangeQueryParameterValue` when `kind` is 'out-of-range', else `InvalidQueryParameterValue`.
 */
export class QueryError extends Error {
  readonly parameter: QueryParameter;
  readonly reason: string;
  readonly kind: 'invalid' | 'out-of-range';
  constructor(parameter: QueryParameter, reason: string, kind: 'invalid' | 'out-of-range' = 'invalid') {
    super(reason);
    this.name = 'QueryError';
    this.parameter = parameter;
    this.reason = reason;
    this.kind = kind;
  }
}

/** A `$filter` the service would refuse: unknown property, type mismatch, syntax error or too large. */
export class FilterError extends QueryError {
  constructor(reason: string) {
    super('$filter', reason);
    this.name = 'FilterError';
  }
}
