import { CipherContext, SignatureAlgorithm, HashAlgorithm, NamedCurveAlgorithm } from 'werift';
const t = performance.now();
for (let i = 0; i < 20; i++) await CipherContext.createSelfSignedCertificateWithKey({ signature: SignatureAlgorithm.ecdsa_3, hash: HashAlgorithm.sha256_4 }, NamedCurveAlgorithm.secp256r1_23);
console.log('cert ms', (performance.now() - t) / 20);
