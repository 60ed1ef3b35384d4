// A live line chart (uPlot) of one series per line over the last few minutes.
import { useEffect, useRef } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface Series {
  label: string;
  color: string;
}

export function LiveChart(props: {
  title: string;
  series: Series[];
  data: number[][]; // [times (s), series...]
  height?: number;
}) {
  const host = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    if (!host.current) return;
    const opts: uPlot.Options = {
      title: props.title,
      width: host.current.clientWidth || 400,
      height: props.height ?? 160,
      legend: { show: true },
      axes: [
        { stroke: '#9aa4b2', grid: { stroke: '#2a3140' } },
        { stroke: '#9aa4b2', grid: { stroke: '#2a3140' } },
      ],
      series: [{}, ...props.series.map((s) => ({ label: s.label, stroke: s.color, width: 2 }))],
    };
    plot.current = new uPlot(opts, props.data as uPlot.AlignedData, host.current);
    const ro = new ResizeObserver(() => {
      if (host.current && plot.current) {
        plot.current.setSize({ width: host.current.clientWidth, height: props.height ?? 160 });
      }
    });
    ro.observe(host.current);
    return () => {
      ro.disconnect();
      plot.current?.destroy();
      plot.current = null;
    };
    // The chart is built once per series set; data flows through setData below.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [props.title, props.series.map((s) => s.label).join()]);

  useEffect(() => {
    plot.current?.setData(props.data as uPlot.AlignedData);
  }, [props.data]);

  return <div className="chart" ref={host} />;
}
