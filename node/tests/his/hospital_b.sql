-- A second HIS, of another vendor, for the bridge's tests: other schema, table and column
-- names, other codes (sex M/F, statuses as words, insurance 'Y'/'N'), money in yuan with
-- four decimals everywhere, dates of birth kept as text, keys as integers. Lifeline reads and
-- writes it through configuration only (hospital_b.toml).
CREATE SCHEMA IF NOT EXISTS yy;
SET search_path = yy;

CREATE TABLE ks (ksdm integer PRIMARY KEY, ksmc text NOT NULL, zt text NOT NULL DEFAULT 'ON', xgsj timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE ys (ysdm integer PRIMARY KEY, ysxm text NOT NULL, ksdm integer NOT NULL, zc text, xgsj timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE xm (xmdm text PRIMARY KEY, xmmc text NOT NULL, dw text, dj numeric(14,4) NOT NULL, xgsj timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE yp (ypdm text PRIMARY KEY, ypmc text NOT NULL, gg text, jx text, dw text NOT NULL, dj numeric(14,4) NOT NULL, xgsj timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE br (
  brid bigint PRIMARY KEY, jzkh text, xm text NOT NULL, xb char(1) NOT NULL, csrq text,
  sfzh text, lxdh text, jhrxm text, jhrdh text, yb char(1) NOT NULL DEFAULT 'N',
  zf char(1) NOT NULL DEFAULT '0', hbdx bigint, jdsj timestamp NOT NULL, xgsj timestamp NOT NULL
);
CREATE TABLE gh (
  ghid bigint PRIMARY KEY, ghhm text NOT NULL, brid bigint NOT NULL, ksdm integer NOT NULL,
  ysdm integer, ghsj timestamp NOT NULL, ghf numeric(12,4) NOT NULL, zt text NOT NULL,
  xgsj timestamp NOT NULL DEFAULT localtimestamp
);
CREATE TABLE cf (cfid bigint PRIMARY KEY, ghid bigint NOT NULL, kfsj timestamp NOT NULL, zt text NOT NULL, xgsj timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE cfmx (cfid bigint NOT NULL, xh int NOT NULL, ypdm text NOT NULL, sl numeric(10,2) NOT NULL, yf text, PRIMARY KEY (cfid, xh));
CREATE TABLE fp (fph text PRIMARY KEY, fpdm text NOT NULL, je numeric(12,4) NOT NULL, kpsj timestamp NOT NULL, zf boolean NOT NULL DEFAULT false, xgsj timestamp NOT NULL DEFAULT localtimestamp);
CREATE TABLE sf (
  sfid bigint PRIMARY KEY, ghid bigint NOT NULL, lx text NOT NULL, dm text NOT NULL, sl numeric(10,2) NOT NULL,
  je numeric(12,4) NOT NULL, zt text NOT NULL, fs text, fph text, sfsj timestamp NOT NULL,
  xgsj timestamp NOT NULL DEFAULT localtimestamp
);

-- The interface tables of this vendor.
CREATE TABLE jk_br (
  wbid text NOT NULL, bb integer NOT NULL, yybrid bigint, xm text NOT NULL, xb char(1) NOT NULL,
  csrq date, sfzh text, lxdh text, jhrxm text, lrsj timestamp NOT NULL,
  drsj timestamp, drcw text, drid text, PRIMARY KEY (wbid, bb)
);
CREATE TABLE jk_gh (
  wbid text NOT NULL, bb integer NOT NULL, brwbid text, yybrid bigint, ghhm text NOT NULL,
  ksdm text NOT NULL, ghf numeric(12,4) NOT NULL, zt text NOT NULL, yjh text,
  drsj timestamp, drcw text, PRIMARY KEY (wbid, bb)
);
CREATE TABLE jk_cf (
  wbid text NOT NULL, bb integer NOT NULL, ghwbid text, yyghid bigint, zt text NOT NULL, mx jsonb NOT NULL,
  drsj timestamp, drcw text, PRIMARY KEY (wbid, bb)
);
CREATE TABLE jk_sf (
  wbid text NOT NULL, bb integer NOT NULL, ghwbid text, yyghid bigint, lx text NOT NULL, dm text NOT NULL,
  sl numeric(10,2) NOT NULL, je numeric(12,4) NOT NULL, zt text NOT NULL, bcjs char(1),
  drsj timestamp, drcw text, PRIMARY KEY (wbid, bb)
);

INSERT INTO ks (ksdm, ksmc, zt) VALUES (11, '儿科门诊', 'ON'), (12, '儿童呼吸科', 'ON'), (19, '已撤销科室', 'OFF');
INSERT INTO ys (ysdm, ysxm, ksdm, zc) VALUES (501, '周医生', 11, '主治医师'), (502, '吴医生', 12, '主任医师');
INSERT INTO xm (xmdm, xmmc, dw, dj) VALUES ('GH01', '普通挂号', '次', 8.5000), ('GH02', '专家挂号', '次', 25.0000), ('JY01', '血常规', '次', 19.9950);
INSERT INTO yp (ypdm, ypmc, gg, jx, dw, dj) VALUES ('A01', '布洛芬混悬液', '100ml', '口服混悬液', '瓶', 18.3333), ('A02', '蒙脱石散', '3g*10袋', '散剂', '盒', 15.3000);
INSERT INTO br (brid, jzkh, xm, xb, csrq, sfzh, lxdh, jhrxm, jhrdh, yb, jdsj, xgsj) VALUES
 (1001, 'K1001', '陈一一', 'M', '2020-05-06', NULL, '13500000001', '陈大', '13600000001', 'Y', '2020-05-07 09:00', '2026-01-01 08:00'),
 (1002, 'K1002', '陈二二', 'F', '2019-02-03', NULL, '13500000002', '陈二', '13600000002', 'N', '2019-02-04 09:00', '2026-01-01 08:00'),
 (1003, 'K1003', '坏日期', 'F', '0000-00-00', NULL, '13500000003', NULL, NULL, 'N', '2019-02-04 09:00', '2026-01-01 08:00');
INSERT INTO gh (ghid, ghhm, brid, ksdm, ysdm, ghsj, ghf, zt) VALUES
 (7001, 'G7001', 1001, 11, 501, current_date + time '08:10', 8.5000, 'WAIT'),
 (7002, 'G7002', 1002, 12, 502, current_date + time '08:20', 25.0000, 'DONE'),
 (7003, 'G7003', 1002, 19, NULL, current_date + time '08:30', 8.5000, 'WAIT');
INSERT INTO cf (cfid, ghid, kfsj, zt) VALUES (9001, 7002, current_date + time '08:40', 'PAID');
INSERT INTO cfmx (cfid, xh, ypdm, sl, yf) VALUES (9001, 1, 'A01', 1, '每次5ml'), (9001, 2, 'A02', 2, '每次1袋');
INSERT INTO fp (fph, fpdm, je, kpsj) VALUES ('88001', 'ZJ2026', 25.0000, current_date + time '08:21');
INSERT INTO sf (sfid, ghid, lx, dm, sl, je, zt, fs, fph, sfsj) VALUES
 (6001, 7002, 'XM', 'GH02', 1, 25.0000, 'PAID', 'YB', '88001', current_date + time '08:21'),
 (6002, 7002, 'YP', 'A01', 1, 18.3333, 'OPEN', NULL, NULL, current_date + time '08:41');
