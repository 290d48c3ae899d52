package fulfill

import "testing"

func TestCountryTableIsISO3166Alpha2(t *testing.T) {
	t.Parallel()
	if n := len(countries); n != 249 {
		t.Errorf("%d countries, ISO 3166-1 assigns 249", n)
	}
	for _, c := range []string{"DE", "GR", "GB", "US", "CH", "AX", "SS", "CW"} {
		if !ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = false", c)
		}
	}
	for _, c := range []string{"ZZ", "XX", "EL", "UK", "EU", "", "de", "D", "DEU", "QZ", "AA"} {
		if ValidCountry(c) {
			t.Errorf("ValidCountry(%q) = true", c)
		}
	}
	if got := CountryName(" de "); got != "Germany" {
		t.Errorf("CountryName(de) = %q", got)
	}
	if got := CountryName("ZZ"); got != "" {
		t.Errorf("CountryName(ZZ) = %q", got)
	}
}
