import { describe, expect, it } from 'vitest';
import {
  exitCodeOf,
  gpuCount,
  parseSacct,
  parseSinfo,
  parseSqueue,
  slurmDuration,
  slurmMemoryKb,
  slurmStateName,
  slurmTime,
} from './parse.js';

describe('Slurm output parsing', () => {
  it("maps Slurm job states to the port's", () => {
    const cases: [string, string][] = [
      ['PENDING', 'pending'],
      ['CONFIGURING', 'pending'],
      ['REQUEUED', 'pending'],
      ['RUNNING', 'running'],
      ['COMPLETING', 'running'],
      ['SUSPENDED', 'running'],
      ['COMPLETED', 'completed'],
      ['FAILED', 'failed'],
      ['OUT_OF_MEMORY', 'failed'],
      ['PREEMPTED', 'failed'],
      ['CANCELLED', 'cancelled'],
      ['CANCELLED by 1000', 'cancelled'],
      ['CANCELLED+', 'cancelled'],
      ['TIMEOUT', 'timeout'],
      ['NODE_FAIL', 'node_fail'],
      ['BOOT_FAIL', 'node_fail'],
      ['WHATEVER', 'unknown'],
    ];
    for (const [slurm, port] of cases) expect([slurm, slurmStateName(slurm)]).toEqual([slurm, port]);
  });

  it('reads exit codes from wait statuses and code:signal pairs', () => {
    expect(exitCodeOf('0')).toBe(0);
    expect(exitCodeOf('768')).toBe(3);
    expect(exitCodeOf('9')).toBeNull();
    expect(exitCodeOf('3:0')).toBe(3);
    expect(exitCodeOf('0:15')).toBeNull();
    expect(exitCodeOf('')).toBeNull();
  });

  it('reads times, durations, memory and GPU counts', () => {
    expect(slurmTime('2026-11-27T03:03:35')).toBe(new Date(2026, 10, 27, 3, 3, 35).toISOString());
    for (const v of ['N/A', 'Unknown', 'None', '', undefined]) expect(slurmTime(v)).toBeNull();
    expect(slurmDuration('0:05')).toBe(5);
    expect(slurmDuration('1:02:03')).toBe(3723);
    expect(slurmDuration('2-00:00:01')).toBe(172801);
    expect(slurmDuration('01:02.500')).toBe(62.5);
    expect(slurmMemoryKb('1024K')).toBe(1024);
    expect(slurmMemoryKb('1.5M')).toBe(1536);
    expect(slurmMemoryKb('')).toBeNull();
    expect(gpuCount('cpu=1,mem=1G,node=1,billing=1', 'gres:gpu:2')).toBe(2);
    expect(gpuCount('cpu=2,gres/gpu=4,gres/gpu:a100=4')).toBe(4);
    expect(gpuCount('gres/gpu:a100=2,gres/gpu:v100=1')).toBe(3);
    expect(gpuCount('gpu:a100:4(S:0-1)')).toBe(4);
    expect(gpuCount('gpu:4')).toBe(4);
    expect(gpuCount('gres/gpu:2')).toBe(2);
    expect(gpuCount('(null)', 'N/A')).toBeNull();
  });

  it('parses squeue lines into job states', () => {
    const out = parseSqueue(
      [
        '3|FAILED|NonZeroExitCode|768|0|2026-11-27T03:04:09|2026-11-27T03:04:09|vm|0:00|cpu=1,mem=1G,node=1,billing=1|N/A|N/A|',
        '4|PENDING|Resources|0|0|N/A|N/A||0:00||gres:gpu:1|N/A|',
        '5|RUNNING|None|0|2|2026-11-27T03:04:09|2026-11-27T04:04:09|vm|1:01|cpu=1|gres:gpu:2|N/A|',
        '',
      ].join('\n'),
    );
    expect(out.get('3')).toMatchObject({
      state: 'failed',
      exitCode: 3,
      reason: 'NonZeroExitCode',
      nodes: 'vm',
      restarts: 0,
    });
    expect(out.get('3')!.endedAt).not.toBeNull();
    expect(out.get('4')).toMatchObject({
      state: 'pending',
      reason: 'Resources',
      startedAt: null,
      endedAt: null,
      nodes: null,
      usage: { gpus: 1 },
    });
    expect(out.get('5')).toMatchObject({
      state: 'running',
      exitCode: null,
      reason: null,
      endedAt: null,
      restarts: 2,
      usage: { elapsedS: 61, gpus: 2 },
    });
  });

  it('parses sacct lines, taking MaxRSS from the steps', () => {
    const out = parseSacct(
      [
        '7|CANCELLED by 0|0:15|None|2026-11-27T03:00:00|2026-11-27T03:01:00|vm|60|00:30.000||cpu=2,gres/gpu=1,mem=1G',
        '7.batch|CANCELLED|0:15||2026-11-27T03:00:00|2026-11-27T03:01:00|vm|60|00:30.000|2048K|',
        '8|PENDING|0:0|Priority|Unknown|Unknown|None assigned|0|00:00:00||',
      ].join('\n'),
    );
    expect(out.get('7')).toMatchObject({
      state: 'cancelled',
      exitCode: null,
      nodes: 'vm',
      usage: { elapsedS: 60, cpuSeconds: 30, gpus: 1, maxRssKb: 2048 },
    });
    expect(out.get('8')).toMatchObject({ state: 'pending', reason: 'Priority', nodes: null, startedAt: null });
    expect(out.has('7.batch')).toBe(false);
  });

  it('parses sinfo node lines', () => {
    expect(parseSinfo('vm|debug*|2|22900|gpu:4|idle\nn2|long|8|1000|(null)|down*\n')).toEqual([
      { node: 'vm', partition: 'debug', isDefault: true, cpus: 2, memoryMb: 22900, gpus: 4, state: 'idle' },
      { node: 'n2', partition: 'long', isDefault: false, cpus: 8, memoryMb: 1000, gpus: 0, state: 'down*' },
    ]);
  });
});
