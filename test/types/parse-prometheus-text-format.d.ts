// The package ships no types: just what the tests read of its output (prom2json's shape).
declare module "parse-prometheus-text-format" {
  export interface Sample {
    readonly labels?: Record<string, string>;
    /** counters and gauges */
    readonly value?: string;
    /** unlabelled histograms: upper bound → cumulative count */
    readonly buckets?: Record<string, string>;
  }
  export interface MetricFamily {
    readonly name: string;
    readonly help: string;
    readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    readonly metrics: readonly Sample[];
  }
  export default function parsePrometheusTextFormat(text: string): MetricFamily[];
}
