// The part of autocannon's programmatic API the serve benchmark uses (autocannon ships no types).
declare module 'autocannon' {
  interface Histogram { average: number; mean: number; stddev: number; min: number; max: number; p50: number; p90: number; p97_5: number; p99: number; p99_9?: number; total?: number }
  interface Request { method?: string; path?: string; setupRequest?: (req: Request, context: object) => Request }
  interface Options { url: string; connections?: number; duration?: number; pipelining?: number; timeout?: number; requests?: Request[]; workers?: number }
  interface Result {
    requests: Histogram; latency: Histogram; throughput: Histogram;
    errors: number; timeouts: number; non2xx: number; mismatches: number; resets: number;
    '1xx': number; '2xx': number; '3xx': number; '4xx': number; '5xx': number;
    duration: number; start: Date; finish: Date; connections: number;
  }
  function autocannon(opts: Options): Promise<Result>;
  export default autocannon;
}
