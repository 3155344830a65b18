import * as assert from 'node:assert/strict';
import { apptainerBuildCommand, apptainerDefinition } from '../../../../src/core/export/apptainer';

const labels = {
  'org.opencontainers.image.revision': '3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8',
  'org.opencontainers.image.source': 'https://example.org/lab/dimuon.git',
  'org.mlcontainers.preset': 'atlas',
  'org.mlcontainers.dirty': 'false',
  'org.mlcontainers.config.path': 'configs/exp\nwith newline.yaml',
  maintainer: 'someone else',
};

/** The .def's section headers: lines that start with %, leading blanks allowed. */
const sections = (def: string): string[] =>
  def
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.startsWith('%'));

describe('Apptainer definition files (mlc export apptainer)', () => {
  it('bootstraps from the local engine by default, carrying our and the OCI labels (not others)', () => {
    const def = apptainerDefinition({ imageRef: 'dimuon:3f2a1bc', source: { kind: 'docker-daemon' }, labels });
    const lines = def.split('\n');
    assert.deepEqual(lines.slice(0, 2), ['Bootstrap: docker-daemon', 'From: dimuon:3f2a1bc']);
    assert.ok(lines.includes('    org.opencontainers.image.revision 3f2a1bc9d0e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8'));
    assert.ok(lines.includes('    org.mlcontainers.preset atlas'));
    assert.ok(
      lines.includes('    org.mlcontainers.config.path configs/exp with newline.yaml'),
      'a newline in a label value would end the %labels entry',
    );
    assert.ok(!def.includes('maintainer'));
    assert.match(
      def,
      /%help\n {4}Experiment image dimuon:3f2a1bc from commit 3f2a1bc9d0e4, exported by ML Containers\.\n {4}GPUs: apptainer exec --nv/,
    );
    assert.ok(!def.includes('%environment'), 'no setup script, no %environment');
    assert.ok(!def.includes('%runscript'), "the image's ENTRYPOINT/CMD stay the runscript");
  });

  it('bootstraps from a docker save archive when asked, and says when the image was dirty', () => {
    const def = apptainerDefinition({
      imageRef: 'dimuon:3f2a1bc-dirty',
      source: { kind: 'docker-archive', archive: '/scratch/dimuon.tar' },
      labels: { ...labels, 'org.mlcontainers.dirty': 'true' },
    });
    assert.match(def, /^Bootstrap: docker-archive\nFrom: \/scratch\/dimuon\.tar\n/);
    assert.match(def, /from commit 3f2a1bc9d0e4 with uncommitted changes/);
  });

  it('sources the HEP release setup in %environment (POSIX sh, quoted, silent if absent)', () => {
    const def = apptainerDefinition({
      imageRef: 'ana:1',
      source: { kind: 'docker-daemon' },
      labels: {},
      setupScript: '/home/atlas/release_setup.sh',
    });
    assert.match(
      def,
      /%environment\n.*\n {4}if \[ -f '\/home\/atlas\/release_setup\.sh' \]; then \. '\/home\/atlas\/release_setup\.sh' >\/dev\/null 2>&1 \|\| true; fi\n/,
    );
    assert.ok(!def.includes('%labels'), 'no labels, no empty %labels section');
    assert.ok(!/\bsource\b/.test(def.split('%environment')[1] ?? ''), '%environment runs under /bin/sh: `.` not `source`');
  });

  it('leaves out a label whose key would add a %setup section (run on the host at build time), and says which', () => {
    const warnings: string[] = [];
    const hostile = { ...labels, 'org.mlcontainers.x\n%setup\nrm -rf ~': 'y', 'org.opencontainers.image.title\r\n%post': 'z' };
    const def = apptainerDefinition({
      imageRef: 'dimuon:3f2a1bc',
      source: { kind: 'docker-daemon' },
      labels: hostile,
      warn: (m) => warnings.push(m),
    });
    assert.deepEqual(sections(def), ['%labels', '%help'], def);
    assert.ok(!def.includes('rm -rf'));
    assert.ok(def.includes('    org.mlcontainers.preset atlas'), 'the plain keys are still carried');
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^2 labels of dimuon:3f2a1bc left out/);
    assert.ok(warnings[0]!.includes('"org.mlcontainers.x\\n%setup\\nrm -rf ~"'), `the key shown escaped: ${warnings[0]!}`);
    assert.ok(!warnings[0]!.includes('\n'), 'no raw newline in the message');
  });

  it('keeps every value to its line: control characters in a label value or the revision become spaces', () => {
    const def = apptainerDefinition({
      imageRef: 'dimuon:1',
      source: { kind: 'docker-daemon' },
      labels: { 'org.opencontainers.image.revision': 'a\n%setup\nid', 'org.mlcontainers.title': 'x\x0b\x00\x1b[2J%post\ty' },
    });
    assert.deepEqual(sections(def), ['%labels', '%help'], def);
    assert.ok(def.includes('    org.mlcontainers.title x [2J%post y'), def);
    assert.match(def, /from commit a %setup id,/);
    // eslint-disable-next-line no-control-regex
    assert.ok(!/[\x00-\x08\x0b-\x1f\x7f]/.test(def), 'no control character but newlines between lines');
  });

  it('refuses an image reference, archive path or setup script with a newline rather than write it into the .def', () => {
    assert.throws(
      () => apptainerDefinition({ imageRef: 'x\n%setup', source: { kind: 'docker-daemon' }, labels: {} }),
      /cannot hold the image "x\\n%setup"/,
    );
    assert.throws(
      () => apptainerDefinition({ imageRef: 'x', source: { kind: 'docker-archive', archive: '/a\n%setup\nid' }, labels: {} }),
      /archive path/,
    );
    assert.throws(
      () => apptainerDefinition({ imageRef: 'x', source: { kind: 'docker-daemon' }, labels: {}, setupScript: "/s.sh'\n%setup\nid" }),
      /setup script/,
    );
  });

  it('builds the .sif with apptainer build SIF DEF', () => {
    assert.deepEqual(apptainerBuildCommand('singularity', 'a.def', 'a.sif'), ['singularity', 'build', 'a.sif', 'a.def']);
  });
});
