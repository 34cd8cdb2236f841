// Push through a team server's presigned URLs vs a direct push to the same S3 server (issue 11,
// "a 1 GiB push through the server's presigned URLs >= 0.9x a direct push"). One run each, on
// loopback against s3rver; reports both times, the ratio and the server's peak RSS (VmHWM).
//   npm run build && node bench/dataplane-push.mjs [MiB, default 1024]
import { execFileSync, spawn } from 'node:child_process';
import { createCipheriv } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { mkdirSync, mkdtempSync, openSync, writeSync, closeSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const CLI = join(root, 'bin', 'cairn.js');
const mib = Number(process.argv[2] ?? 1024);
const work = mkdtempSync(join(tmpdir(), 'cairn-dp-bench-'));
const children = [];
const env = {
  ...process.env,
  AWS_ACCESS_KEY_ID: 'S3RVER',
  AWS_SECRET_ACCESS_KEY: 'S3RVER',
  AWS_REGION: 'us-east-1',
  CAIRN_CONFIG_DIR: join(work, 'config'),
  CAIRN_SERVER: '',
  CAIRN_TOKEN: '',
};
const cairn = (args, cwd) => execFileSync(process.execPath, [CLI, ...args], { cwd, env, encoding: 'utf8' });

function waitLine(child, re) {
  return new Promise((resolve, reject) => {
    let buf = '';
    child.stdout.on('data', (d) => {
      buf += d;
      const m = re.exec(buf);
      if (m) resolve(m);
    });
    child.once('exit', (c) => reject(new Error(`exited ${c}: ${buf}`)));
  });
}

try {
  const bucket = 'bench';
  const s3dir = join(work, 's3');
  mkdirSync(s3dir);
  const s3 = spawn(
    process.execPath,
    [
      '--openssl-legacy-provider',
      '-e',
      `const S=require(${JSON.stringify(createRequire(import.meta.url).resolve('s3rver'))});` +
        `const s=new S({address:'127.0.0.1',port:0,silent:true,directory:${JSON.stringify(s3dir)},configureBuckets:[{name:'${bucket}'}]});` +
        `require(${JSON.stringify(join(root, 'scripts', 's3rver-multipart-shim.cjs'))})(s,${JSON.stringify(s3dir)});` +
        `s.run().then(a=>console.log('PORT '+a.port));`,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(s3);
  const endpoint = `http://127.0.0.1:${(await waitLine(s3, /PORT (\d+)/))[1]}`;

  // The data: deterministic pseudo-random bytes (incompressible, no duplicate chunks).
  const src = join(work, 'src');
  mkdirSync(src);
  const fd = openSync(join(src, 'big.bin'), 'w');
  const ctr = createCipheriv('aes-128-ctr', Buffer.alloc(16, 7), Buffer.alloc(16));
  const block = Buffer.alloc(8 * 1024 * 1024);
  for (let i = 0; i < mib / 8; i++) writeSync(fd, ctr.update(block));
  closeSync(fd);

  const srv = join(work, 'srv');
  cairn(['server', 'user', 'add', 'alice', '--role', 'contributor', '--data-dir', srv], work);
  const token = JSON.parse(
    cairn(['server', 'token', 'create', '--user', 'alice', '--data-dir', srv, '--json'], work),
  ).token;
  const server = spawn(
    process.execPath,
    [
      CLI,
      'server',
      'start',
      '--data-dir',
      srv,
      '--listen',
      '127.0.0.1:0',
      '--store',
      `s3://${bucket}/team`,
      '--store-endpoint',
      endpoint,
    ],
    { cwd: work, env, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  children.push(server);
  const url = (await waitLine(server, /Cairn server on (http:\/\/\S+)/))[1];

  // CPU seconds (user+sys) per process over each push: under load these say more than the wall
  // time. The client is this script's reaped children (the CLI), from /proc/self/stat's cutime+cstime.
  const tick = 100;
  const cpuOf = (pid, children) => {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (children ? Number(f[13]) + Number(f[14]) : Number(f[11]) + Number(f[12])) / tick;
  };
  const cpu = () => ({ client: cpuOf('self', true), server: cpuOf(server.pid, false), s3: cpuOf(s3.pid, false) });
  const time = (ws, remote) => {
    const c0 = cpu();
    const t0 = performance.now();
    cairn(['push', '--remote', remote], ws);
    const seconds = (performance.now() - t0) / 1000;
    const c1 = cpu();
    const cpuSeconds = Object.fromEntries(Object.keys(c0).map((k) => [k, +(c1[k] - c0[k]).toFixed(2)]));
    return { seconds, cpuSeconds };
  };
  const mk = (name) => {
    const ws = join(work, name);
    mkdirSync(ws);
    cairn(['init'], ws);
    cairn(['data', 'add', src, '--name', 'big'], ws);
    return ws;
  };
  const a = mk('direct');
  cairn(['remote', 'add', 'direct', `s3://${bucket}/direct`, '--endpoint', endpoint], a);
  const { seconds: direct, cpuSeconds: directCpu } = time(a, 'direct');
  const b = mk('viaserver');
  cairn(['login', url, '--token', token], b);
  cairn(['remote', 'add', 'team', url], b);
  const { seconds: via, cpuSeconds: viaCpu } = time(b, 'team');
  const hwm = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.pid}/status`, 'utf8'))?.[1];
  console.log(
    JSON.stringify({
      mib,
      directSeconds: +direct.toFixed(2),
      viaServerSeconds: +via.toFixed(2),
      directMiBps: +(mib / direct).toFixed(1),
      viaServerMiBps: +(mib / via).toFixed(1),
      ratio: +(direct / via).toFixed(3),
      serverPeakRssMiB: hwm ? Math.round(Number(hwm) / 1024) : null,
      directCpuSeconds: directCpu,
      viaServerCpuSeconds: viaCpu,
      loadAverage: readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' '),
    }),
  );
} finally {
  for (const c of children) c.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
