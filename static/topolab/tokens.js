// The API tokens page: focusing a new token's secret selects all of it, ready to copy.
document.getElementById('token-secret-value')?.addEventListener('focus', (e) => e.target.select());
